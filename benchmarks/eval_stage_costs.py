"""Where a full-suite evaluation spends its time: core-seconds per audio second of each stage of a row, on one thread,
warm (models loaded, one clip scored first, untimed), and the ceiling those costs put on audio hours per wall hour
(not a test).

    python benchmarks/eval_stage_costs.py [--minutes 1] [--codec opus-6k] [--cores 15] [--model-stages]

Each stage runs the function the runner runs on the same inputs: reading and hashing the audio, the codec's round
trip, the pair's checks (alignment, `eval.pair.prepare`; the model stage runs these), every CPU metric through
`eval.pair.score` on the prepared pair, and with --model-stages the ASR of the original and the decoded audio
(`asr.transcribe_many`), speaker similarity and DistillMOS (`eval.pair.score`). The clips are the
bundled speech (all languages), as many as make --minutes. The pitch metrics share one pYIN track per signal: their
row pays for the decoded audio's track and the reference's (which later codecs of the same utterance reuse), both
counted under f0_rmse; the mel and STFT distances share one computation, counted under mel_distance. "ceiling" is
what --cores cores reach when only the CPU metrics run on them (the models, and on a GPU machine
`eval.metrics.GPU_METRICS`, on the GPU): cores / (their core-seconds per audio second).
"""

from __future__ import annotations

import argparse
import time


from codec.bundled_speech import default_manifest
from codec.registry import get_codec
from eval import metrics, pair
from eval.cache import audio_sha256
from eval.manifest import load_manifest
from eval.metrics import GPU_METRICS, METRICS


def clips(minutes: float) -> list:
    """Bundled utterances, languages interleaved, until they hold `minutes` of audio."""
    utts = sorted(load_manifest(default_manifest()), key=lambda u: (u.id[::-1]))
    chosen, held = [], 0.0
    for utt in utts:
        if held >= minutes * 60:
            break
        chosen.append(utt)
        held += utt.duration
    return chosen


def timed(step) -> float:
    """Seconds that `step()` takes."""
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def main() -> None:
    """Print each stage's core-seconds per audio second and the CPU metrics' ceiling on --cores cores."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--codec", default="opus-6k")
    parser.add_argument("--cores", type=int, default=15, help="cores for the CPU metrics in the ceiling")
    parser.add_argument("--model-stages", action="store_true", help="also time ASR, speaker and DistillMOS on the CPU")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    codec = get_codec(args.codec)
    cpu = [m for m in METRICS if not METRICS[m].needs_model and m != "distill_mos"]
    loaded = [(u, u.load()) for u in clips(args.minutes)]
    audio_s = sum(len(a.samples) / a.sample_rate for _, a in loaded)
    costs: dict[str, float] = {}
    warm = True
    for utt, audio in [loaded[0]] + loaded:  # the first one twice: untimed, to load and compile
        rt = codec.roundtrip(audio.samples, audio.sample_rate)
        if not warm:
            costs["round trip " + args.codec] = costs.get("round trip " + args.codec, 0.0) + timed(
                lambda: codec.roundtrip(audio.samples, audio.sample_rate))
        p = pair.prepare(audio.samples, audio.sample_rate, rt.audio, rt.sample_rate, align_to=rt.heard)
        if not warm:
            for name, step in {"read + hash": lambda: audio_sha256(utt.load().samples, audio.sample_rate),
                               "pair checks (sanity)": lambda: pair.prepare(audio.samples, audio.sample_rate, rt.audio,
                                                                            rt.sample_rate, align_to=rt.heard)}.items():
                costs[name] = costs.get(name, 0.0) + timed(step)
        metrics._PITCH_TRACKS.clear()  # each row pays for its reference's track, as a first codec does
        for name in cpu:
            spent = timed(lambda: pair.score(p, (name,)))
            costs[name] = costs.get(name, 0.0) + (0.0 if warm else spent)
        if args.model_stages:
            _model_stages(costs, utt, audio, p, warm)
        warm = False
    print(f"{audio_s:.0f} s of bundled speech ({len(loaded)} clips), one thread, core-seconds per audio second")
    for name, seconds in costs.items():
        print(f"{name:22s} {seconds / audio_s:8.4f}")
    cpu_sum = sum(costs[m] for m in cpu) / audio_s
    gpu_machine = sum(costs[m] for m in cpu if m not in GPU_METRICS) / audio_s
    pitch = costs["f0_rmse"] / audio_s
    print(f"{'CPU metrics together':22s} {cpu_sum:8.4f}")
    print(f"{'  without GPU_METRICS':22s} {gpu_machine:8.4f}   (what stays on the CPUs of a GPU machine)")
    print(f"ceiling on {args.cores} cores with the GPU metrics and models on a GPU: {args.cores / gpu_machine:.0f} audio "
          f"hours per wall hour (without the pitch metrics: {args.cores / (gpu_machine - pitch):.0f}); with only the "
          f"models on a GPU: {args.cores / cpu_sum:.0f}")


def _model_stages(costs: dict[str, float], utt, audio, p, warm: bool) -> None:
    """Time the model stages of one row on the CPU: ASR of original and decoded, speaker similarity (two
    embeddings), DistillMOS."""
    from eval import asr

    stages = {
        "ASR (original+decoded)": lambda: asr.transcribe_many([audio.samples, p.raw], audio.sample_rate, utt.lang),
        "speaker_sim": lambda: pair.score(p, ("speaker_sim",)),
        "distill_mos": lambda: pair.score(p, ("distill_mos",)),
    }
    for name, step in stages.items():
        spent = timed(step)
        costs[name] = costs.get(name, 0.0) + (0.0 if warm else spent)


if __name__ == "__main__":
    main()
