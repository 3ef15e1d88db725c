"""A run's run.json: everything needed to reproduce its numbers (configuration, codecs, metrics, models, package
versions, device, settings)."""

from __future__ import annotations

import platform
import sys
import time

from codec.audio import RESAMPLER
from codec.interface import Codec
from codec.registry import list_codecs
from codec.spec import CodecSpec
from eval import asr, run_folder, speaker, stats, textnorm
from eval.cache import Cache
from eval.identity import codec_settings, configuration, metric_key, sanity_settings
from eval.metrics import METRICS, package_version
from eval.pair import ASR_METRICS

PACKAGES = ("numpy", "scipy", "soxr", "soundfile", "pesq", "pystoi", "librosa", "numba", "jiwer", "num2words",
            "faster-whisper", "ctranslate2", "Resemblyzer", "torch", "pycodec2", "av", "lfsc-workbench")


def run_manifest(codecs: list[Codec], metrics: tuple[str, ...], source: str, cache: Cache, jobs: int,
                 previous: dict | None = None) -> dict:
    """Everything needed to reproduce a run's numbers; `previous`: the run.json of the rows this run adds to
    (`run_folder.resume`), whose codecs stay listed."""
    current = configuration(codecs, metrics)
    if previous is not None:
        current["codecs"] = {**previous["configuration"]["codecs"], **current["codecs"]}
    info: dict = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": sys.argv,
        "input": source,
        "configuration": current,
        "codecs": run_folder.merged_codecs(previous, _codec_entries(codecs)),
        "metrics": {
            name: {"label": METRICS[name].label, "rate": METRICS[name].rate, "version": metric_key(name),
                   "description": METRICS[name].description}
            for name in metrics if name in METRICS
        },
        "normaliser": textnorm.VERSION,
        "resampler": RESAMPLER,
        "sanity": sanity_settings(),
        "bootstrap": {"seed": stats.SEED, "resamples": stats.RESAMPLES},
        "jobs": jobs,
        "cache": str(cache.root) if cache.root else "disabled",
        "packages": {package: package_version(package) for package in PACKAGES},
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    if "speaker_sim" in metrics:
        info["speaker_model"] = speaker.describe()
    if any(m in metrics for m in ASR_METRICS):
        info["asr"] = _asr_model()
    info["device"] = _device()
    return info


def _codec_entries(codecs: list[Codec]) -> list[dict]:
    """run.json's entries of this run's codecs."""
    entries = {e.name: e.description for e in list_codecs()}
    return [{"name": c.name, "description": _describe(c.name, entries), "nominal_bitrate": c.nominal_bitrate,
             "waveform_matching": c.waveform_matching, "settings": codec_settings(c),
             "cached": codec_settings(c) is not None}
            for c in codecs]


def _describe(name: str, entries: dict[str, str]) -> str:
    spec = CodecSpec.parse(name)
    return entries.get(spec.base, "") + (f"; its input: {spec.input_description}" if spec.conditioned else "")


def _asr_model() -> dict:
    """The ASR model in use: its folder, identity, files and decoding."""
    folder = asr.model_dir()
    return {
        "model_dir": str(folder),
        "model_id": asr.model_id(),
        "model_sha256": asr.model_sha256(),
        "files": {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()},
        "device": "/".join(asr.device()),
        "decoding": asr.DECODING,
    }


def _device() -> str:
    try:
        import torch

        return "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"
