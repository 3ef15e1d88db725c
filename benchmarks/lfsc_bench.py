"""LFSC speed, memory and precision on CPU, side by side with NeMo 3.0.0 in one run, on the same weights and inputs.

    .venv/bin/python benchmarks/lfsc_bench.py [--checkpoint /tmp/lfsc_full_random.nemo] [--seconds 5]
        [--batch 1 4] [--repeats 3] [--sections speed interleaved precision chunks]
        [--memory-minutes 10 60 --precision bf16]

speed: every configuration runs in its own child process, one after the other (NeMo through
tools/nemo_bench.py in .venv-nemo, ours through this script's --worker mode), on the same checkpoint and the
same seeded-noise clip stacked `batch` times; each of encode and decode is the best of --repeats; the peak
RSS of each child comes from os.wait4. Printed: RTF of encode, decode and round trip, the round-trip speed-up
over NeMo fp32 at the same batch, achieved GFLOP/s (conv FLOPs counted on the model, about 137 per audio
second), peak RSS, and whether the tokens are identical to NeMo fp32's.
interleaved: in one process, NeMo's arithmetic (our model with weight norm and masks, bit-identical to NeMo)
and our paths called in turn, round after round: ratios that survive a busy machine.
precision: bf16 and fp16 against our fp32 on real speech (the bundled set): token agreement, SNR of the
decoder alone (same tokens) and of the round trip.
chunks: a 60 s real-speech input coded whole and in overlapping chunks: token agreement and SNR.
--memory-minutes N [M ...]: `lfsc-codec roundtrip` (a child process each) of an N-minute 44.1 kHz stereo WAV of
tiled speech: its RTF and peak RSS; equal peaks for N and M show that memory does not grow with the file.
The machine is shared: compare figures of one run only.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = Path("/tmp/lfsc_full_random.nemo")
NEMO_PYTHON = ROOT / ".venv-nemo" / "bin" / "python"
NEMO_BENCH = ROOT / "tools" / "nemo_bench.py"
SAMPLE_RATE = 22050


# -- shared helpers (gpu_bench.py uses them too) -----------------------------------------------------------------
def ensure_checkpoint(path: Path) -> Path:
    """`path`, written first as a seeded random-weight full-size LFSC when it is the missing default (a fresh
    machine: speed does not depend on the weights; precision figures do, so those want real weights)."""
    if path == DEFAULT_CHECKPOINT and not path.exists():
        from codec.lfsc.checkpoint import save_nemo
        from codec.lfsc.model import LFSCModel
        from train.config import default_config
        from train.nemo_config import nemo_model_config

        print(f"{path} is missing: writing a seeded random-weight full-size LFSC there", flush=True)
        torch.manual_seed(0)
        # With the training recipe's NeMo sections, as lfsc-train exports: NeMo restores only a full model config.
        save_nemo(path, LFSCModel(), extra_config=nemo_model_config(default_config()))
    return path


def noise_clip(seconds: float) -> torch.Tensor:
    """The input of tools/nemo_bench.py without --audio: torch seed 0 Gaussian noise, std 0.1."""
    return torch.randn(round(seconds * SAMPLE_RATE), generator=torch.Generator().manual_seed(0)) * 0.1


def tokens_sha(tokens: np.ndarray) -> str:
    """sha256 of int32 little-endian tokens [B, 8, N], as tools/nemo_bench.py computes it."""
    return hashlib.sha256(np.ascontiguousarray(tokens).astype("<i4", copy=False).tobytes(order="C")).hexdigest()


def gflop_per_audio_second(config) -> dict[str, float]:
    """Conv FLOPs (2 per multiply-add) of encoder and decoder per second of audio, counted on a meta-device model."""
    from codec.lfsc.model import decoder_full, encoder_full
    from codec.lfsc.model import LFSCModel
    from codec.lfsc.nn import Conv1dNorm, ConvTranspose1dNorm

    macs = {"encoder": 0, "decoder": 0}
    part = ["encoder"]

    def count(wrapper, inputs, output):  # hooks on the wrappers: Conv1dNorm calls F.conv1d, not its conv
        x, conv = inputs[0], wrapper.conv
        if isinstance(conv, torch.nn.ConvTranspose1d):
            macs[part[0]] += x.numel() * conv.out_channels * conv.kernel_size[0]
        else:
            macs[part[0]] += output.numel() * conv.in_channels * conv.kernel_size[0] // conv.groups

    with torch.device("meta"):
        model = LFSCModel(config)
        for m in model.modules():
            if isinstance(m, (Conv1dNorm, ConvTranspose1dNorm)):
                m.register_forward_hook(count)
        frames = 100
        encoder_full(model, torch.empty(1, frames * config.samples_per_frame))
        part[0] = "decoder"
        decoder_full(model, torch.empty(1, config.decoder.input_dim, frames))
    seconds = frames * config.samples_per_frame / config.sample_rate
    return {k: 2 * v / seconds / 1e9 for k, v in macs.items()}


def snr_db(ref: np.ndarray, deg: np.ndarray) -> float:
    """Waveform SNR of deg against ref in dB (inf when identical)."""
    noise = np.sum((ref.astype(np.float64) - deg) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / noise))


def best_time(fn, repeats: int, sync=lambda: None):
    """Best wall time of `repeats` calls of fn() and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        result = fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best, result


def run_measured(cmd: list[str]) -> tuple[str, str, float]:
    """Run a child to the end: its stdout, its stderr and its peak RSS in MB (the kernel's accounting, os.wait4)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, cwd=ROOT)
        out = proc.stdout.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        err.seek(0)
        errors = err.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{errors[-3000:]}")
    return out, errors, usage.ru_maxrss / 1024


def run_child(cmd: list[str]) -> dict:
    """Run a benchmark child that prints one JSON line; add its peak RSS (MB)."""
    out, _, max_rss_mb = run_measured(cmd)
    result = json.loads(out.strip().splitlines()[-1])
    result["max_rss_mb"] = max_rss_mb
    return result


def machine() -> str:
    """One line naming the CPU, core count, torch version and load."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    load = os.getloadavg()
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, threads {torch.get_num_threads()}, "
            f"load average {load[0]:.1f}")


def speech_clips(limit: int | None = None) -> list[np.ndarray]:
    """Real speech at 22.05 kHz: the bundled set (assets/speech), else the NeMo fixture's Harvard sentences."""
    from codec.audio import load_audio, resample
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    if default_manifest().exists():
        clips = []
        for utt in load_manifest(default_manifest())[:limit]:
            audio = load_audio(utt.audio_path)
            clips.append(resample(audio.samples, audio.sample_rate, SAMPLE_RATE))
        return clips
    io = np.load(ROOT / "tests" / "fixtures" / "nemo" / "io.npz")
    return [io["audio"][i, : int(n)] for i, n in enumerate(io["audio_len"])]


# -- child workers -----------------------------------------------------------------------------------------------
def worker_speed(args: argparse.Namespace) -> None:
    """Time our encode and decode of `batch` copies of the noise clip; print one JSON line (nemo_bench's keys)."""
    from codec.lfsc.checkpoint import load_lfsc
    from codec.lfsc.inference import LFSCInference

    torch.set_num_threads(args.threads)
    model = load_lfsc(args.checkpoint, device="cpu")
    inference = LFSCInference(model, precision=args.precision, batch_size=args.batch[0])
    clips = [noise_clip(args.seconds).numpy()] * args.batch[0]
    encode_s, tokens = best_time(lambda: inference.encode_many(clips), args.repeats)
    decode_s, _ = best_time(lambda: inference.decode_many(tokens), args.repeats)
    audio_s = args.seconds * args.batch[0]
    print(json.dumps({
        "encode_s": encode_s, "decode_s": decode_s, "audio_s": audio_s,
        "rtf_encode": encode_s / audio_s, "rtf_decode": decode_s / audio_s,
        "rtf_roundtrip": (encode_s + decode_s) / audio_s, "tokens_sha": tokens_sha(np.stack(tokens)),
        "batch": args.batch[0], "threads": args.threads, "dtype": args.precision,
    }))


# -- sections ----------------------------------------------------------------------------------------------------
def section_speed(args: argparse.Namespace, gflop: float) -> None:
    print(f"\n== speed: {args.seconds:g} s noise clip, best of {args.repeats}, {args.threads} threads ==")
    print(f"{'config':<14}{'batch':>6}{'enc RTF':>9}{'dec RTF':>9}{'RT RTF':>8}{'x NeMo':>8}{'GFLOP/s':>9}"
          f"{'peak RSS':>10}  tokens = NeMo fp32")
    me = [sys.executable, __file__, "--checkpoint", str(args.checkpoint), "--seconds", str(args.seconds),
          "--repeats", str(args.repeats), "--threads", str(args.threads)]
    nemo = [str(args.nemo_python), str(NEMO_BENCH), "--nemo", str(args.checkpoint), "--seconds", str(args.seconds),
            "--repeats", str(args.repeats), "--threads", str(args.threads)]
    for batch in args.batch:
        configs = [("ours fp32", me + ["--worker", "speed", "--precision", "fp32", "--batch", str(batch)])]
        configs += [(f"ours {p}", me + ["--worker", "speed", "--precision", p, "--batch", str(batch)])
                    for p in args.precisions]
        if not args.no_nemo:
            configs = [("NeMo fp32", nemo + ["--batch", str(batch)]), ("NeMo bf16", nemo + ["--batch", str(batch), "--bf16"])] + configs
        rows = [(label, run_child(cmd)) for label, cmd in configs]
        base = rows[0][1]
        for label, r in rows:
            same = "yes" if r["tokens_sha"] == base["tokens_sha"] else "no"
            print(f"{label:<14}{batch:>6}{r['rtf_encode']:>9.3f}{r['rtf_decode']:>9.3f}{r['rtf_roundtrip']:>8.3f}"
                  f"{base['rtf_roundtrip'] / r['rtf_roundtrip']:>7.2f}x{gflop / r['rtf_roundtrip']:>9.0f}"
                  f"{r['max_rss_mb']:>8.0f}MB  {same if rows[0][0] == 'NeMo fp32' else '-'}", flush=True)


@contextlib.contextmanager
def torch_reflect_padding():
    """NeMo's padding (F.pad's reflect kernel) in our model's convs, so that NeMo-equiv costs what NeMo costs."""
    import codec.lfsc.nn as lfsc_nn

    fast = lfsc_nn.reflect_pad
    lfsc_nn.reflect_pad = lambda x, pad: torch.nn.functional.pad(x, (pad, pad), mode="reflect")
    try:
        yield
    finally:
        lfsc_nn.reflect_pad = fast


def section_interleaved(args: argparse.Namespace, model, gflop: float) -> None:
    """In one process, calls alternate between paths round after round, so load drift hits all alike."""
    from codec.lfsc.checkpoint import load_lfsc
    from codec.lfsc.inference import LFSCInference, autocast
    from codec.lfsc.model import decoder_full, encoder_full

    reference = load_lfsc(args.checkpoint, device="cpu", fold_weight_norm=False)
    audio = torch.from_numpy(LFSCInference(model).pad_to_frames(noise_clip(args.seconds).numpy()))[None]
    length = torch.tensor([audio.shape[1]])
    tokens, tokens_len = reference.encode(audio=audio, audio_len=length)
    latent = reference.dequantize(tokens=tokens, tokens_len=tokens_len)

    def under(context, fn):
        def run():
            with torch.inference_mode(), context():
                return fn()
        return run

    paths = {"NeMo-equiv fp32": (under(torch_reflect_padding, lambda: reference.encode(audio=audio, audio_len=length)),
                                 under(torch_reflect_padding, lambda: reference.decode(tokens=tokens, tokens_len=tokens_len)))}
    for precision in ["fp32", *args.precisions]:
        inference = LFSCInference(model, precision=precision)
        name = f"ours {precision}" + (" packed" if inference.packed else "")
        paths[name] = (functools.partial(inference.encode_frames, audio), functools.partial(inference.decode_frames, tokens))
        if inference.packed:  # the same precision with plain convolutions under autocast, for the packing's share
            cast = functools.partial(autocast, model.device, precision)
            paths[f"ours {precision} autocast"] = (under(cast, lambda: encoder_full(model, audio)),
                                                   under(cast, lambda: decoder_full(model, latent)))
    best = {(name, part): float("inf") for name in paths for part in (0, 1)}
    for _ in range(args.rounds):
        for name, fns in paths.items():
            for part, fn in enumerate(fns):
                seconds, _ = best_time(fn, 1)
                best[name, part] = min(best[name, part], seconds)
    audio_s = audio.shape[1] / SAMPLE_RATE
    print(f"\n== interleaved in one process: {audio_s:.2f} s clip, batch 1, best of {args.rounds} rounds; "
          "NeMo-equiv = our model with weight norm, masks and F.pad, bit-identical to NeMo 3.0.0 ==")
    base = (best["NeMo-equiv fp32", 0] + best["NeMo-equiv fp32", 1]) / audio_s
    for name in paths:
        enc, dec = best[name, 0] / audio_s, best[name, 1] / audio_s
        print(f"{name:<20} enc RTF {enc:.3f}  dec RTF {dec:.3f}  RT RTF {enc + dec:.3f}  "
              f"x NeMo-equiv {base / (enc + dec):.2f}x  {gflop / (enc + dec):.0f} GFLOP/s", flush=True)


def section_precision(args: argparse.Namespace, model) -> None:
    from codec.lfsc.inference import LFSCInference

    clips = speech_clips(limit=args.speech_clips)
    print(f"\n== precision against our fp32: {len(clips)} real-speech clips, {sum(map(len, clips)) / SAMPLE_RATE:.1f} s ==")
    exact = LFSCInference(model)
    reference = [exact.encode(c) for c in clips]
    reference = [(c, t, exact.decode(t)) for c, t in zip(clips, reference)]
    for precision in args.precisions:
        fast = LFSCInference(model, precision=precision)
        agree = frames = total = 0
        dec_snr, rt_snr = [], []
        for clip, tokens, audio in reference:
            mine = fast.encode(clip)
            agree += int(np.sum(mine == tokens))
            frames += int(np.sum((mine == tokens).all(axis=0)))
            total += tokens.shape[1]
            dec_snr.append(snr_db(audio, fast.decode(tokens)))
            rt_snr.append(snr_db(audio, fast.decode(mine)))
        print(f"{precision}: token agreement {agree / total / 8:.4f} (whole frames {frames / total:.4f}); "
              f"decoder SNR {np.mean(dec_snr):.1f} dB (min {np.min(dec_snr):.1f}); "
              f"round-trip SNR {np.mean(rt_snr):.1f} dB (min {np.min(rt_snr):.1f})", flush=True)


def section_chunks(args: argparse.Namespace, model) -> None:
    from codec.lfsc.inference import LFSCInference

    speech = np.concatenate(speech_clips())
    audio = np.resize(speech, round(args.long_seconds * SAMPLE_RATE)).astype(np.float32)
    whole = LFSCInference(model, chunk_seconds=10 * args.long_seconds)
    chunked = LFSCInference(model, chunk_seconds=args.chunk_seconds)
    print(f"\n== chunks: {args.long_seconds:g} s of real speech, whole file against {chunked.chunk_frames}-frame chunks "
          f"with {chunked.encoder_context}/{chunked.decoder_context} context frames (encoder/decoder) ==")
    t0 = time.perf_counter()
    tokens = whole.encode(audio)
    t1 = time.perf_counter()
    decoded = whole.decode(tokens)
    t2 = time.perf_counter()
    tokens_c = chunked.encode(audio)
    t3 = time.perf_counter()
    decoded_c = chunked.decode(tokens)
    t4 = time.perf_counter()
    print(f"token agreement {np.mean(tokens_c == tokens):.6f} ({int(np.sum(tokens_c != tokens))} of {tokens.size} differ); "
          f"decoded SNR {snr_db(decoded, decoded_c):.1f} dB, max abs diff {np.abs(decoded - decoded_c).max():.2e}; "
          f"time whole {t2 - t0:.1f} s (enc {t1 - t0:.1f}), chunked {t4 - t2:.1f} s (enc {t3 - t2:.1f})", flush=True)


def write_long_speech(path: Path, minutes: float, sample_rate: int = 44100) -> None:
    """`minutes` of the bundled speech, tiled, as a 16-bit stereo WAV at `sample_rate` (what a user's recording
    looks like: the CLI downmixes and resamples it on the way in and back), written a block at a time."""
    import soundfile as sf

    from codec.audio import resample

    speech = resample(np.concatenate(speech_clips(limit=8)), SAMPLE_RATE, sample_rate)
    stereo = np.stack([speech, 0.8 * speech], axis=1)
    total = round(minutes * 60 * sample_rate)
    with sf.SoundFile(str(path), "w", sample_rate, 2, subtype="PCM_16") as f:
        for start in range(0, total, len(stereo)):
            f.write(stereo[: total - start])


def section_memory(args: argparse.Namespace) -> None:
    print(f"\n== memory: `lfsc-codec roundtrip` of long WAV files (44.1 kHz stereo, tiled speech), {args.precision}, "
          f"one child process each ==")
    print(f"{'minutes':>8}{'file MB':>9}{'RTF':>7}{'peak RSS':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.memory_minutes:
            source, out = Path(tmp) / "long.wav", Path(tmp) / "out.wav"
            write_long_speech(source, minutes)
            cmd = [sys.executable, "-m", "codec.cli", "roundtrip", str(source), str(out), "--checkpoint",
                   str(args.checkpoint), "--precision", args.precision, "--device", "cpu"]
            _, said, max_rss_mb = run_measured(cmd)
            rtf = float(re.findall(r"RTF ([0-9.]+)", said)[-1])
            print(f"{minutes:>8g}{source.stat().st_size / 2**20:>9.0f}{rtf:>7.3f}{max_rss_mb:>8.0f}MB", flush=True)
            source.unlink()
            out.unlink()


def main() -> None:
    """Parse arguments and run the chosen sections (or one --worker)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--seconds", type=float, default=5.0, help="clip length of the speed section")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precisions", nargs="+", default=["bf16"], help="reduced precisions to compare")
    parser.add_argument("--precision", default="fp32", help="precision of the memory runs")
    parser.add_argument("--sections", nargs="*", default=["speed", "interleaved", "precision", "chunks"],
                        choices=["speed", "interleaved", "precision", "chunks"])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the interleaved section")
    parser.add_argument("--speech-clips", type=int, default=8, help="bundled clips for the precision section")
    parser.add_argument("--long-seconds", type=float, default=60.0)
    parser.add_argument("--chunk-seconds", type=float, default=5.0)
    parser.add_argument("--memory-minutes", type=float, nargs="*", default=[],
                        help="also round-trip WAV files this many minutes long with lfsc-codec (peak RSS)")
    parser.add_argument("--nemo-python", type=Path, default=NEMO_PYTHON)
    parser.add_argument("--no-nemo", action="store_true", help="skip NeMo (no .venv-nemo here)")
    parser.add_argument("--worker", choices=["speed"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "speed":
        return worker_speed(args)

    torch.set_num_threads(args.threads)
    from codec.lfsc.checkpoint import load_lfsc

    if "speed" in args.sections and not args.no_nemo and not args.nemo_python.exists():
        sys.exit(f"lfsc_bench: {args.nemo_python} is missing: make it with `bash tools/nemo_env.sh` (NeMo 3.0.0, "
                 "once), or pass --no-nemo to time ours alone")
    print(f"machine: {machine()}")
    ensure_checkpoint(args.checkpoint)
    if not args.sections:
        return section_memory(args)
    model = load_lfsc(args.checkpoint, device="cpu")
    flops = gflop_per_audio_second(model.config)
    print(f"checkpoint: {args.checkpoint}; conv cost per audio second: encoder {flops['encoder']:.1f}, "
          f"decoder {flops['decoder']:.1f}, round trip {sum(flops.values()):.1f} GFLOP")
    if "speed" in args.sections:
        section_speed(args, sum(flops.values()))
    if "interleaved" in args.sections:
        section_interleaved(args, model, sum(flops.values()))
    if "precision" in args.sections:
        section_precision(args, model)
    if "chunks" in args.sections:
        section_chunks(args, model)
    if args.memory_minutes:
        section_memory(args)


if __name__ == "__main__":
    main()
