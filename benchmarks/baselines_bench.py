"""Print, for every reference codec, the measured bitrate, the residual delay after compensation and the speed.

    .venv/bin/python benchmarks/baselines_bench.py [AUDIO ...]

With no files it uses the bundled speech (assets/speech/manifest.jsonl). The residual delay is in samples at the
codec's native rate: by waveform cross-correlation (with its peak correlation) and, for codecs that do not keep
the waveform (Codec2), by the energy envelope. It is how the delay constants in codec/baselines were calibrated.
"""

from __future__ import annotations

import sys

import numpy as np

from codec.audio import load_audio, resample
from codec.baselines.delay import measure_delay, measure_envelope_delay
from codec.registry import get_codec, list_codecs


def _clips(paths: list[str]) -> list[tuple[np.ndarray, int]]:
    if not paths:
        from codec.bundled_speech import default_manifest
        from eval.manifest import load_manifest

        paths = [str(u.audio_path) for u in load_manifest(default_manifest())]
    return [(audio.samples, audio.sample_rate) for audio in (load_audio(path) for path in paths)]


def main(paths: list[str]) -> None:
    """Round-trip every clip through every available reference codec and print one row per codec."""
    clips = _clips(paths)
    print(f"{len(clips)} clips, {sum(len(x) / sr for x, sr in clips):.1f} s")
    header = ("codec", "rate", "nominal", "measured", "delay", "corr", "env.delay", "rtf")
    print(f"{header[0]:14} " + " ".join(f"{title:>{width}}" for title, width in zip(header[1:], (6, 8, 9, 6, 5, 9, 7))))
    for entry in list_codecs():
        if entry.name == "lfsc" or not entry.available()[0]:
            continue
        codec = get_codec(entry.name)
        bits = seconds = work = 0.0
        delays, peaks, envelope_delays = [], [], []
        for samples, rate in clips:
            result = codec.roundtrip(samples, rate)
            bits += 8 * result.payload_bytes
            seconds += result.duration
            work += result.encode_seconds + result.decode_seconds
            native = entry.sample_rate or rate
            reference, decoded = resample(samples, rate, native), resample(result.audio, rate, native)
            delay, peak = measure_delay(reference, decoded, max_lag=native // 20)
            delays.append(delay)
            peaks.append(peak)
            envelope_delays.append(measure_envelope_delay(reference, decoded, native, max_lag=native // 20))
        print(
            f"{entry.name:14} {entry.sample_rate or 'input':>6} {entry.nominal_bitrate / 1000:8.2f} "
            f"{bits / seconds / 1000:9.2f} {np.median(delays):6.2f} {np.median(peaks):5.2f} "
            f"{np.median(envelope_delays):9.1f} {work / seconds:7.4f}"
        )
    print("bitrates in kbit/s; delays: median over clips, samples at the native rate; rtf: (encode+decode)/duration")


if __name__ == "__main__":
    main(sys.argv[1:])
