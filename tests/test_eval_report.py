"""The report of a run folder: real HTML tables, one label per metric, CER pooled two named ways, SI-SDR flagged where
the waveform cannot match, the speaker model's chance level, the normaliser's number limits."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest
import soundfile as sf

from eval import speaker, textnorm
from eval.report import write_report
from eval.run_folder import ROWS, RUN_MANIFEST

E1, E2 = np.eye(2)
EMBEDDINGS = {1: E1, 2: 0.8 * E1 + 0.6 * E2, 3: E2, 4: 0.6 * E1 + 0.8 * E2}  # speakers a (1, 2) and b (3, 4)


class Fake(speaker.SpeakerModel):
    """Embeddings chosen by the clip's first sample (k / 100 -> EMBEDDINGS[k])."""

    name = "Fake-SV similarity"
    sample_rate = 16000
    version = "fake/1"

    def embed(self, audio: np.ndarray) -> np.ndarray:
        return EMBEDDINGS[int(round(float(audio[0]) * 100))]


class Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts, under the <h3> title before it; tfoot rows apart."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[list[str]]]] = {}
        self.title, self.part, self.cell = "", "", None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "h3":
            self.title = ""
            self.part = "h3"
        elif tag == "table":
            self.tables[self.title] = {"thead": [], "tbody": [], "tfoot": []}
        elif tag in ("thead", "tbody", "tfoot"):
            self.part = tag
        elif tag == "tr" and self.part in ("thead", "tbody", "tfoot"):
            self.tables[self.title][self.part].append([])
        elif tag in ("td", "th") and self.part in ("thead", "tbody", "tfoot"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[self.title][self.part][-1].append(" ".join(self.cell.split()))
            self.cell = None
        elif tag in ("h3", "table"):
            self.part = ""

    def handle_data(self, data):
        if self.part == "h3":
            self.title += data
        elif self.cell is not None:
            self.cell += " " + data

    def column(self, title: str, header: str) -> dict[str, str]:
        """One column of a table, by the row's first cell."""
        table = self.tables[title]
        index = table["thead"][0].index(header)
        return {row[0]: row[index] for row in table["tbody"] + table["tfoot"]}


def _counts(errors: int, length: int) -> dict:
    return {"hits": length - errors, "substitutions": errors, "deletions": 0, "insertions": 0}


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """Two codecs over four utterances of two speakers (ru for the last), written as the runner writes them, and
    their report (written once: its plots take seconds)."""
    tmp_path = tmp_path_factory.mktemp("report")
    out = tmp_path / "run"
    out.mkdir()
    # CER: utterance 1 has 1 error in 10 characters, the others none in 40: corpus 1/130, mean 0.025
    utterances = [(1, "a", "en", "one two", 1, 10), (2, "a", "en", "three", 0, 40), (3, "b", "en", "four", 0, 40),
                  (4, "b", "ru", "Нажмите 5", 0, 40)]
    rows = []
    for k, who, lang, text, errors, length in utterances:
        audio = tmp_path / f"utt{k}.wav"
        sf.write(audio, np.full(1600, k / 100, dtype=np.float32), 16000, subtype="FLOAT")
        for codec, sisdr, sim in (("opus-6k", 7.0, 0.9), ("codec2-3200", -20.0, 0.7)):
            # one opus pair only aligned by its envelope: its SI-SDR is flagged too
            method = "envelope" if codec == "codec2-3200" or k == 4 else "waveform"
            counts = {"cer": _counts(errors, length), "cer_orig": _counts(0, length)}
            rows.append({
                "utt_id": f"u{k}", "lang": lang, "speaker": who, "duration": 0.1, "reference_audio": str(audio),
                "text": text, "codec": codec, "nominal_bitrate": 6000.0 if codec == "opus-6k" else 3200.0,
                "measured_bitrate": 6400.0 if codec == "opus-6k" else 3230.0, "rtf": 0.01, "payload_bytes": 80,
                "metrics": {"si_sdr": sisdr, "speaker_sim": sim, "cer": errors / length, "cer_orig": 0.0,
                            "dcer": errors / length},
                "missing": {}, "asr_counts": counts, "cached": False,
                "sanity": {"delay_samples": 0, "delay_method": method, "delay_confidence": 0.9, "delay_compensated": False,
                           "refuse": "", "resampled": "", "warnings": []},
            })
    (out / ROWS).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    manifest = {"codecs": [{"name": "opus-6k", "waveform_matching": True},
                           {"name": "codec2-3200", "waveform_matching": False}],
                "speaker_model": {"name": Fake.name}, "normaliser": textnorm.VERSION, "cache": "disabled"}
    (out / RUN_MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(speaker, "_model", None)  # restored afterwards
        speaker.set_model(Fake())
        write_report(out)
    return out


def test_the_html_report_is_real_tables_with_one_label_per_metric(run_folder):
    page = (run_folder / "report.html").read_text(encoding="utf-8")
    tables = Tables(page)
    assert {"Signal quality", "Intelligibility: ASR error rates", "Voice and prosody", "CER per language"} <= set(tables.tables)
    assert tables.column("CER per language", "lang") == {"opus-6k": "ru", "codec2-3200": "ru"}  # the last row each
    assert "<pre class='md'>" not in page and "<script src" not in page and "https://" not in page  # opens offline
    assert "Speaker similarity" not in page and page.count(Fake.name) >= 4  # the model's name, everywhere
    assert "table.sortable" in page and "data-sort=" in page
    markdown = (run_folder / "summary.md").read_text(encoding="utf-8")
    assert "### Signal quality" in markdown and "| codec | n | kbit/s measured (nominal) | SI-SDR (dB) |" in markdown


def test_cer_is_given_pooled_over_the_corpus_and_as_a_mean_of_utterances_each_labelled(run_folder):
    asr = Tables((run_folder / "report.html").read_text(encoding="utf-8"))
    corpus = asr.column("Intelligibility: ASR error rates", "CER (corpus)")
    mean = asr.column("Intelligibility: ASR error rates", "CER (mean of utterances)")
    assert corpus["opus-6k"].startswith(f"{1 / 130:.3f}") and mean["opus-6k"].startswith(f"{np.mean([0.1, 0, 0, 0]):.3f}")
    assert asr.column("CER per language", "CER (corpus)")  # the same two names in the per-language table
    assert "CER (mean of utterances)" in asr.tables


def test_si_sdr_is_flagged_for_a_parametric_codec_and_for_pairs_aligned_by_envelope_only(run_folder):
    tables = Tables((run_folder / "report.html").read_text(encoding="utf-8"))
    sisdr = tables.column("Signal quality", "SI-SDR (dB)")
    assert "†" in sisdr["codec2-3200"] and "†" in sisdr["opus-6k"]
    summary = json.loads((run_folder / "summary.json").read_text())
    assert "parametric codec" in summary["waveform_warnings"]["codec2-3200"]
    assert summary["waveform_warnings"]["opus-6k"].startswith("1 of 4 pairs aligned by their energy envelope only")
    assert "†" not in tables.column("Voice and prosody", Fake.name)["codec2-3200"]  # only waveform metrics


def test_speaker_similarity_is_shown_with_the_models_chance_level_on_the_runs_references(run_folder):
    summary = json.loads((run_folder / "summary.json").read_text())
    chance = summary["speaker_chance"]
    # same speaker: a1-a2 and b3-b4, 0.8 each; different: a1-b3, a1-b4, a2-b3, a2-b4
    different = [0.0, 0.6, 0.6, 0.96]
    assert chance["same"]["mean"] == pytest.approx(0.8) and chance["different"]["mean"] == pytest.approx(np.mean(different))
    tables = Tables((run_folder / "report.html").read_text(encoding="utf-8"))
    column = tables.column("Voice and prosody", Fake.name)
    assert column["different speakers (chance) (4 pairs)"].startswith(f"{np.mean(different):.3f}")
    assert column["same speaker, another utterance (2 pairs)"].startswith("0.800")
    assert column["equal-error threshold"].startswith(f"{chance['eer_threshold']:.3f}")
    page = (run_folder / "report.html").read_text(encoding="utf-8")
    assert f"{Fake.name} against chance on this set" in page
    assert "Read it against these levels, not against the range 0 to 1" in page


def test_the_report_names_languages_whose_numbers_are_not_normalised_reliably(run_folder):
    summary = json.loads((run_folder / "summary.json").read_text())
    assert summary["number_limits"] == {"ru": {"limit": textnorm.number_limit("ru"), "references": 1,
                                               "references_with_digits": 1}}
    assert "except in ru, where digits are spelt" in (run_folder / "summary.md").read_text(encoding="utf-8")


def test_the_run_manifest_says_which_codecs_cannot_match_the_waveform():
    from codec.registry import get_codec
    from eval.cache import Cache
    from eval.run_manifest import run_manifest

    codecs = [get_codec(name) for name in ("opus-6k", "codec2-3200", "codec2-3200@white10")]
    manifest = run_manifest(codecs, ("si_sdr",), "", Cache(None), 1)
    assert [c["waveform_matching"] for c in manifest["codecs"]] == [True, False, False]
