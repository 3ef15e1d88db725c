"""The registry that maps names such as 'lfsc', 'codec2-2400', 'opus-6k' to codecs: one declarative table.

Each entry names its factory and its availability check by import path ("module:attribute"); nothing is imported
until a codec is built or checked, so listing the codecs is cheap. The GUI, the eval runner and the CLI all go
through `get_codec`; nothing else builds codec classes directly.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
from dataclasses import dataclass, field
from typing import Any, Iterator

from codec.conditions import Conditioned
from codec.errors import UserError
from codec.interface import Codec
from codec.spec import CodecSpec

ANY_RATE = 0  # an entry's sample_rate when the codec works at the input's rate and never resamples
ANCHOR_CUTOFFS = (3500.0, 7000.0)
CODEC2_MODES = ("3200", "2400", "1600", "1400", "1300", "1200", "700C")  # codec.baselines.codec2.DELAY's modes
OPUS_NAMED_BITRATES = (6000, 8000, 12000, 16000, 24000)
AMR_NB_NAMED_BITRATES = (4750, 12200)
LFSC_NOMINAL_BITRATE = 8 * math.log2(2016) * 22050 / 1024  # 1891.0 bit/s, the model card's "1.89 kbps"
LFSC_OPTIONS = ("checkpoint", "device", "trust", "precision", "chunk_seconds")
PYCODEC2 = ("pycodec2:pycodec2",)
PYAV = ("av:av",)
CODEC2_FRAME_RATES = {"3200": 50.0, "2400": 50.0}  # 20 ms frames; the lower modes send 40 ms ones (25 a second)
LFSC_LICENCE = "NVIDIA NSCLv1"  # the model card's (huggingface.co/nvidia/low-frame-rate-speech-codec-22khz)


@dataclass(frozen=True)
class Card:
    """How a codec codes, as its model card or standard declares it: shown by `lfsc-codec list` without loading it."""

    frame_rate: float = 0.0  # frames a second; 0 for a codec that sends no frames (identity, anchors)
    codebooks: int = 0  # tokens a frame; 0 for a codec without codebooks
    codebook_size: int = 0
    causal: str = "yes"  # "yes", "no", or which part is ("decoder")
    licence: str = "-"  # of the released weights for a neural codec, of the library for a classical one


@dataclass(frozen=True)
class CodecEntry:
    """A registered codec: how to build it and what to show in `lfsc-codec list`."""

    name: str
    factory: str  # "module:attribute" of the class or function that builds it, imported only to build it
    sample_rate: int
    nominal_bitrate: float
    description: str
    options: tuple[str, ...] = ()  # the keyword options a user may give, in the order error messages list them
    arguments: dict[str, Any] = field(default_factory=dict, hash=False)  # fixed keyword arguments that make this entry
    requires: tuple[str, ...] = ()  # (module, pip package) pairs joined as "module:package"
    check: str = ""  # "module:function" given the user's options: why the codec cannot run here, or ""
    card: Card = Card()

    def available(self, **options: Any) -> tuple[bool, str]:
        """Whether the codec can run here, and if not, what to do about it."""
        for requirement in self.requires:
            module, _, package = requirement.partition(":")
            if importlib.util.find_spec(module) is None:
                return False, f"needs the Python package '{package or module}' (pip install {package or module})"
        why = _imported(self.check)(**options) if self.check else ""
        return (False, why) if why else (True, "")

    def check_options(self, options: dict[str, Any]) -> None:
        """Refuse (UserError) options this codec does not take."""
        if options and not self.options:
            raise UserError(f"codec {self.name!r} takes no options (got {', '.join(sorted(options))}): drop them")
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise UserError(f"codec {self.name!r} has no option {', '.join(unknown)}; "
                            f"it takes: {', '.join(self.options)}")

    def build(self, **options: Any) -> Codec:
        """The codec, its factory imported now."""
        return _imported(self.factory)(**self.arguments, **options)


def _imported(path: str) -> Any:
    """The object an import path "module:attribute" names, its module imported."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _fixed(name: str, factory: str, sample_rate: int, nominal_bitrate: float, description: str,
           requires: tuple[str, ...] = (), check: str = "", card: Card = Card(), **arguments: Any) -> CodecEntry:
    """An entry that takes no options: `arguments` make it."""
    return CodecEntry(name, factory, sample_rate, nominal_bitrate, description, (), arguments, requires, check, card)


LFSC_CARD = Card(22050 / 1024, 8, 2016, "no", LFSC_LICENCE)
CODEC2_LICENCE = "LGPL-2.1 (libcodec2)"
OPUS_CARD = Card(50.0, licence="BSD-3-Clause (libopus)")  # 20 ms frames
AMR_NB_CARD = Card(50.0, licence="Apache-2.0 (opencore-amr)")  # 20 ms frames
OPUS = "codec.baselines.pyav_codecs:Opus"
OPUS_CHECK = "codec.baselines.pyav_codecs:opus_problem"
AMR_NB = "codec.baselines.pyav_codecs:AmrNb"
LFSC = "codec.lfsc_codec:LFSCCodec"
LFSC_AC = "codec.lfsc_codec:entropy_coded"
LFSC_CHECK = "codec.config:checkpoint_problem"

# In the order `lfsc-codec list`, the app and error messages show them.
CODECS: tuple[CodecEntry, ...] = (
    _fixed("identity", "codec.baselines.reference:Identity", ANY_RATE, 0.0,
           "returns its input bit-exactly, for calibrating metrics (payload: float32 PCM)"),
    *(_fixed(f"lowpass-{cutoff / 1000:g}k", "codec.baselines.reference:LowpassAnchor", ANY_RATE, 0.0,
             f"MUSHRA anchor (ITU-R BS.1534): zero-phase low-pass at {cutoff / 1000:g} kHz", card=Card(causal="no"),
             cutoff=cutoff)
      for cutoff in ANCHOR_CUTOFFS),
    *(_fixed(f"codec2-{mode.lower()}", "codec.baselines.codec2:Codec2", 8000, float(mode.rstrip("C")),
             f"Codec2 {mode} (libcodec2 via pycodec2)", PYCODEC2,
             card=Card(CODEC2_FRAME_RATES.get(mode, 25.0), licence=CODEC2_LICENCE), mode=mode)
      for mode in CODEC2_MODES),
    *(_fixed(f"opus-{bitrate // 1000}k", OPUS, 16000, float(bitrate),
             f"Opus {bitrate // 1000} kbit/s VBR, VoIP, 20 ms frames (libopus via PyAV)", PYAV, OPUS_CHECK,
             OPUS_CARD, bitrate=bitrate)
      for bitrate in OPUS_NAMED_BITRATES),
    CodecEntry("opus", OPUS, 16000, 12000.0,
               "Opus at any bitrate: options bitrate=6000..510000 (default 12000), sample_rate=16000|8000",
               ("bitrate", "sample_rate"), requires=PYAV, check=OPUS_CHECK, card=OPUS_CARD),
    *(_fixed(f"amr-nb-{bitrate / 1000:g}", AMR_NB, 8000, float(bitrate),
             f"AMR-NB {bitrate / 1000:g} kbit/s (libopencore-amrnb via PyAV)", PYAV,
             "codec.baselines.pyav_codecs:amr_nb_problem", AMR_NB_CARD, bitrate=bitrate)
      for bitrate in AMR_NB_NAMED_BITRATES),
    CodecEntry("lfsc", LFSC, 22050, LFSC_NOMINAL_BITRATE,
               "NVIDIA Low Frame-rate Speech Codec (needs a .nemo checkpoint)", LFSC_OPTIONS, check=LFSC_CHECK,
               card=LFSC_CARD),
    # The name carries the reduced precision, so its option is fixed.
    CodecEntry("lfsc-bf16", LFSC, 22050, LFSC_NOMINAL_BITRATE,
               "LFSC in bf16 arithmetic: faster, measured deviation from fp32 (docs/performance.md)",
               tuple(o for o in LFSC_OPTIONS if o != "precision"), {"precision": "bf16"}, check=LFSC_CHECK,
               card=LFSC_CARD),
    CodecEntry("lfsc+ac", LFSC_AC, 22050, LFSC_NOMINAL_BITRATE,
               "LFSC with entropy-coded tokens (lossless; option entropy=adaptive (default), prior:FILE or "
               "context:FILE): the same audio in fewer bits", (*LFSC_OPTIONS, "entropy"), check=LFSC_CHECK,
               card=LFSC_CARD),
    CodecEntry("lfsc-bf16+ac", LFSC_AC, 22050, LFSC_NOMINAL_BITRATE, "lfsc-bf16 with entropy-coded tokens",
               (*(o for o in LFSC_OPTIONS if o != "precision"), "entropy"), {"precision": "bf16"}, check=LFSC_CHECK,
               card=LFSC_CARD),
)

# Codecs named by a prefix and a value, the value passed as the option the entry names: "nemo:PATH" is any .nemo of
# NVIDIA's codec family (LFSC, Audio Codec, NanoCodec, Mel Codec), at the checkpoint's own rate, frame size and codebooks.
PREFIXED: tuple[tuple[str, str, CodecEntry], ...] = (
    ("nemo:", "checkpoint",
     CodecEntry("nemo:PATH", "codec.lfsc_codec:nemo_codec", ANY_RATE, 0.0,
                "any NeMo AudioCodecModel .nemo of LFSC's family (Audio Codec, NanoCodec, Mel Codec) at its own rate",
                tuple(o for o in LFSC_OPTIONS if o != "checkpoint"))),
    # "hf:OWNER/MODEL" or "hf:FOLDER", ":N" for N codebooks: a transformers neural codec at its own rate.
    ("hf:", "model",
     CodecEntry("hf:MODEL[:CODEBOOKS]", "codec.hf_codecs:hf_codec", ANY_RATE, 0.0,
                "a Hugging Face transformers codec (EnCodec, DAC, Mimi, X-codec): hub id or save_pretrained folder, "
                "':N' for N codebooks (a lower bitrate)", ("device",), requires=("transformers:transformers",))),
)



@dataclass(frozen=True)
class Checkpoint:
    """A released checkpoint that a prefixed entry runs, as its model card declares it (the weights are not here)."""

    prefix: str  # the PREFIXED entry that runs it
    model: str  # its hub id, ':N' for N of its codebooks
    sample_rate: int
    nominal_bitrate: float
    card: Card

    @property
    def codec_name(self) -> str:
        """How to name it as a codec: a .nemo is named by the path it was downloaded to, a hub model by its id."""
        return f"nemo:PATH ({self.model})" if self.prefix == "nemo:" else f"hf:{self.model}"


def _nvidia(model: str, rate: int, frame: int, codebooks: int, size: int, causal: str, licence: str) -> Checkpoint:
    """An NVIDIA codec .nemo of LFSC's family: `frame` samples a frame, `codebooks` FSQ codebooks of `size` codes."""
    return Checkpoint("nemo:", f"nvidia/{model}", rate, codebooks * math.log2(size) * rate / frame,
                      Card(rate / frame, codebooks, size, causal, licence))


def _hugging_face(model: str, rate: int, frame_rate: float, codebooks: int, size: int, causal: str,
                  licence: str) -> Checkpoint:
    """A transformers codec on the hub, at `codebooks` codebooks of `size` codes (its most, or ':N' fewer)."""
    return Checkpoint("hf:", model, rate, codebooks * math.log2(size) * frame_rate,
                      Card(frame_rate, codebooks, size, causal, licence))


NVIDIA_OPEN = "NVIDIA Open Model License"
# What `lfsc-codec list` and the README show for the 'nemo:' and 'hf:' entries: declared, never measured here.
CHECKPOINTS: tuple[Checkpoint, ...] = (
    _nvidia("audio-codec-22khz", 22050, 256, 8, 1000, "no", "NVIDIA NSCLv1"),
    _nvidia("audio-codec-44khz", 44100, 512, 8, 1000, "no", "NVIDIA NSCLv1"),
    _nvidia("mel-codec-22khz", 22050, 256, 8, 1000, "no", "see model card"),
    _nvidia("mel-codec-44khz", 44100, 512, 8, 1000, "no", "see model card"),
    _nvidia("nemo-nano-codec-22khz-1.89kbps-21.5fps", 22050, 1024, 8, 2016, "decoder", NVIDIA_OPEN),
    _nvidia("nemo-nano-codec-22khz-1.78kbps-12.5fps", 22050, 1764, 13, 2016, "decoder", NVIDIA_OPEN),
    _nvidia("nemo-nano-codec-22khz-0.6kbps-12.5fps", 22050, 1764, 4, 4032, "decoder", NVIDIA_OPEN),
    _hugging_face("facebook/encodec_24khz", 24000, 75.0, 32, 1024, "yes", "CC-BY-NC-4.0"),
    _hugging_face("descript/dac_44khz", 44100, 44100 / 512, 9, 1024, "no", "MIT"),
    _hugging_face("kyutai/mimi", 24000, 12.5, 32, 2048, "yes", "CC-BY-4.0"),
    _hugging_face("kyutai/mimi:8", 24000, 12.5, 8, 2048, "yes", "CC-BY-4.0"),
    # X-codec at 16 kHz, 50 frames/s: 8 codebooks at its highest target bandwidth (4 kbit/s), 1 to 4 at its lower.
    _hugging_face("hf-audio/xcodec-hubert-librispeech", 16000, 50.0, 8, 1024, "no", "see model card"),
)

_REGISTRY: dict[str, CodecEntry] = {entry.name: entry for entry in CODECS}


@contextlib.contextmanager
def registered(entry: CodecEntry) -> Iterator[CodecEntry]:
    """`entry` registered for the duration of the `with` block (a test's own codec); names are unique."""
    if entry.name in _REGISTRY:
        raise ValueError(f"codec {entry.name!r} is registered already")
    _REGISTRY[entry.name] = entry
    try:
        yield entry
    finally:
        del _REGISTRY[entry.name]


def list_codecs() -> list[CodecEntry]:
    """All registered codecs, in the table's order."""
    return list(_REGISTRY.values())


def takes_option(name: str, option: str) -> bool:
    """Whether the codec named `name` (conditions allowed) takes `option` (such as LFSC's checkpoint and device)."""
    entry = _entry(CodecSpec.parse(name).base)[0]
    return entry is not None and option in entry.options


def _entry(name: str) -> tuple[CodecEntry | None, dict[str, Any]]:
    """The entry registered under `name` or its prefix, and the option its prefix's value gives."""
    for prefix, option, entry in PREFIXED:
        if name.startswith(prefix):
            return entry, {option: name[len(prefix):]}
    return _REGISTRY.get(name), {}


def get_codec(name: str, **options: Any) -> Codec:
    """Build the codec registered under `name`, fed through the input conditions the name carries after '@'
    (`codec.conditions`); unknown names, options and conditions and missing packages are UserErrors."""
    spec = CodecSpec.parse(name)
    if spec.conditioned:
        return Conditioned(get_codec(spec.base, **options), spec.conditions)
    entry, given = _entry(name)
    if entry is None:
        prefixed = ", ".join(e.name for _, _, e in PREFIXED)
        raise UserError(f"unknown codec {name!r}; known codecs: {', '.join(_REGISTRY)}, {prefixed}")
    entry.check_options(options)
    ok, why = entry.available(**options)
    if not ok:
        raise UserError(f"codec {name!r} is not available on this machine: {why}")
    return entry.build(**given, **options)
