"""What identifies a run's numbers: each codec's settings, the cache keys of round trips, metrics and transcripts,
and a run's configuration (which a run folder's rows belong to)."""

from __future__ import annotations

import json

from codec.audio import RESAMPLER
from codec.conditions import VERSION as CONDITIONS_VERSION
from codec.conditions import Conditioned
from codec.interface import Codec
from eval import asr, pair, sanity, speaker, textnorm
from eval.metrics import FAST_METRICS, METRICS, on_gpu

SANITY_VERSION = "sanity/1"  # bump when eval.sanity changes what it compensates or refuses
HEAD_KEY = f"{SANITY_VERSION}/roundtrip-2"  # a round trip's cached record; 2: its times include the resampling


def codec_settings(codec: Codec) -> dict | None:
    """What identifies a codec's output (None: the codec does not describe itself, so it is never cached).

    A codec may expose a `settings` dict (e.g. its checkpoint sha256); the registry's baselines are fully
    described by their class and simple attributes.
    """
    if isinstance(codec, Conditioned):  # the codec's own identity, plus what its input went through
        inner = codec_settings(codec.inner)
        return None if inner is None else {**inner, "conditions": [c.spec for c in codec.conditions],
                                           "conditions_version": CONDITIONS_VERSION}
    described = getattr(codec, "settings", None)
    if described is None and not type(codec).__module__.startswith("codec.baselines"):
        return None
    plain = {k: v for k, v in vars(codec).items() if not k.startswith("_") and isinstance(v, (int, float, str, bool))}
    return {"class": f"{type(codec).__module__}.{type(codec).__qualname__}", **plain, **(described or {})}


def codec_key(codec: Codec) -> str | None:
    """The codec's part of its cache keys (None: never cached)."""
    settings = codec_settings(codec)
    return None if settings is None else json.dumps(settings, sort_keys=True)


def metric_key(name: str) -> str:
    """A signal or speaker metric's cache key, which is also its version in run.json."""
    version = speaker.model_version() if name == "speaker_sim" else METRICS[name].version + ("+gpu" if on_gpu(name) else "")
    return f"{name}/{version}/{SANITY_VERSION}" + ("" if name in FAST_METRICS else f"/{pair.AS_DECODED}")


def original_asr_key() -> str:
    """The cache key of the original audio's transcript."""
    return f"asr-hyp/{asr.model_id()}"


def decoded_asr_key() -> str:
    """The cache key of a decoded audio's transcript."""
    return f"{original_asr_key()}/{pair.AS_DECODED}"


def sanity_settings() -> dict:
    """The sanity checks' version and thresholds."""
    return {"version": SANITY_VERSION, "max_delay_s": sanity.MAX_DELAY_S, "min_waveform_correlation": sanity.MIN_CORRELATION,
            "min_envelope_correlation": sanity.MIN_ENVELOPE_CORRELATION}


def configuration(codecs: list[Codec], metrics: tuple[str, ...]) -> dict:
    """What identifies a run's numbers: each codec's settings (those of the cache key), each metric with its
    version (ASR: the model and decoding), the text normaliser, the sanity checks and the resampler. Not the time,
    the command line, the cache or the number of jobs, which change no number."""
    return {
        "codecs": {c.name: codec_settings(c) for c in codecs},
        "metrics": {name: metric_key(name) if name in METRICS else f"asr/{asr.model_id()}/{pair.AS_DECODED}"
                    for name in metrics},
        "normaliser": textnorm.VERSION,
        "sanity": sanity_settings(),
        "resampler": RESAMPLER,
    }
