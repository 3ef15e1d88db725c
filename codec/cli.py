"""`lfsc-codec`: encode, decode, round-trip and inspect audio with LFSC or any registered codec."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from codec.errors import UserError

if TYPE_CHECKING:
    from codec.audio import AudioFile

EPILOG = """checkpoint: --checkpoint PATH, else $LFSC_CHECKPOINT, else 'checkpoint: PATH' in
~/.config/lfsc-workbench/config.yaml. LFSC codes files of any length chunk by chunk, from file to file, in
bounded memory (progress bars on a terminal); outputs appear only when complete. Examples:
  lfsc-codec roundtrip speech.wav out.wav --checkpoint lfsc.nemo
  lfsc-codec encode speech.flac speech.lfsc && lfsc-codec decode speech.lfsc speech_decoded.wav
  lfsc-codec roundtrip speech.wav out.wav --codec opus-6k
  lfsc-codec list"""


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _codec(args: argparse.Namespace, name: str | None = None):
    from codec.registry import get_codec

    name = name or args.codec
    options = {}
    if name.startswith("lfsc"):  # lfsc and lfsc-bf16: the LFSCCodec options
        options = {"checkpoint": args.checkpoint, "device": args.device, "trust": args.trust_checkpoint}
    if name == "lfsc":
        options["precision"] = args.precision
    return get_codec(name, **options)


def _notify(source: AudioFile) -> AudioFile:
    """Say what reading the input changes (downmix, resampling)."""
    for notice in source.notices:
        _say(f"notice: {notice}")
    return source


def _warn_short(path: str, source: AudioFile, codec) -> None:
    if source.file_samples * codec.sample_rate < codec.min_samples * source.file_rate:
        _say(
            f"notice: {path} is shorter than {codec.name}'s minimum of {codec.min_samples} samples at "
            f"{codec.sample_rate} Hz; it is zero-padded for coding and the output trimmed back"
        )


def _is_lfsc(codec) -> bool:
    return codec.name.startswith("lfsc")  # lfsc, lfsc-bf16, ...: chunked streaming and the .lfsc bitstream


@contextlib.contextmanager
def _progress(what: str, frames: int, codec) -> Iterator[Callable[[int], None]]:
    """A progress bar in seconds of audio on a terminal's stderr, for inputs long enough to wait for (>= 30 s)."""
    from tqdm import tqdm

    per_frame = codec.model.samples_per_frame / codec.sample_rate
    seconds = frames * per_frame
    with tqdm(total=round(seconds, 1), desc=what, unit="s", unit_scale=True, file=sys.stderr, leave=False,
              disable=None if seconds >= 30 else True) as bar:
        yield lambda done: bar.update(round(done * per_frame, 3))


def _lfsc_tokens(codec, source: AudioFile):
    """Tokens of a file opened at the codec's rate, read block by block (bounded memory for any length)."""
    with _progress("encode", codec.inference.frames_for(source.num_samples), codec) as progress:
        return codec.inference.encode_blocks(source.blocks(), source.num_samples, progress)


def _lfsc_audio(codec, tokens, num_samples: int) -> Iterator:
    """Decoded blocks at the codec's rate, `num_samples` long in all, with a progress bar."""
    with _progress("decode", tokens.shape[1], codec) as progress:
        yield from codec.inference.decode_blocks(tokens, num_samples, progress)


def cmd_encode(args: argparse.Namespace) -> None:
    from codec.audio import open_audio
    from codec.bitstream import encode_file, encode_payload_file, pack_frames
    from codec.files import replacing

    source = open_audio(args.input)
    codec = _codec(args)
    source = _notify(dataclasses.replace(source, sample_rate=codec.sample_rate))
    _warn_short(args.input, source, codec)
    if _is_lfsc(codec):
        tokens = _lfsc_tokens(codec, source)
        data = encode_file(codec.layout(source.num_samples, tokens.shape[1]), pack_frames(tokens, codec.model.codebook_size))
    else:
        data = encode_payload_file(codec.name, codec.sample_rate, source.num_samples, codec.encode(source.read()))
    with replacing(args.output) as tmp:
        tmp.write_bytes(data)
    _say(f"{args.output}: {len(data)} bytes, {8 * len(data) / source.duration:.1f} bit/s over {source.duration:.2f} s")


def _read_coded(path: str, args: argparse.Namespace):
    """A .lfsc or payload file's decoded audio as (blocks, sample_rate, num_samples)."""
    from codec.bitstream import MAGIC, decode_file, decode_payload_file, unpack_frames

    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path}: no such file")
    data = p.read_bytes()
    if data[:4] == MAGIC:
        layout, payload = decode_file(data, path)
        codec = _codec(args, "lfsc")
        if (layout.sample_rate, layout.num_codebooks, layout.codebook_size) != (
            codec.sample_rate, codec.model.num_codebooks, codec.model.codebook_size
        ):
            raise UserError(f"{path}: was coded by a model with another layout than the configured checkpoint")
        tokens = unpack_frames(payload, layout.num_frames, layout.num_codebooks, layout.codebook_size)
        return _lfsc_audio(codec, tokens, layout.num_samples), layout.sample_rate, layout.num_samples
    name, sample_rate, num_samples, payload = decode_payload_file(data, path)
    return [_codec(args, name).decode(payload, num_samples)], sample_rate, num_samples


def cmd_decode(args: argparse.Namespace) -> None:
    from codec.audio import check_output_path, resample_blocks, resampled_length, write_audio

    check_output_path(args.output)
    blocks, sr, num_samples = _read_coded(args.input, args)
    if args.rate and args.rate != sr:
        blocks, num_samples, sr = resample_blocks(blocks, sr, args.rate), resampled_length(num_samples, sr, args.rate), args.rate
    write_audio(args.output, blocks, sr)
    _say(f"{args.output}: {num_samples / sr:.2f} s at {sr} Hz")


def cmd_roundtrip(args: argparse.Namespace) -> None:
    from codec.audio import check_output_path, fit_blocks, open_audio, resample_blocks, save_audio, write_audio
    from codec.bitstream import pack_frames

    check_output_path(args.output)
    source = open_audio(args.input)
    codec = _codec(args)
    if not _is_lfsc(codec):
        _notify(source)
        _warn_short(args.input, source, codec)
        result = codec.roundtrip(source.read(), source.sample_rate)
        save_audio(args.output, result.audio, result.sample_rate)
        payload_bytes, encode_s, decode_s = result.payload_bytes, result.encode_seconds, result.decode_seconds
        timed = "codec only"
    else:  # Codec.roundtrip's steps, streamed from file to file: the same samples in bounded memory
        source = _notify(dataclasses.replace(source, sample_rate=codec.sample_rate))
        _warn_short(args.input, source, codec)
        start = time.perf_counter()
        tokens = _lfsc_tokens(codec, source)
        middle = time.perf_counter()
        decoded = resample_blocks(_lfsc_audio(codec, tokens, source.num_samples), codec.sample_rate, source.file_rate)
        write_audio(args.output, fit_blocks(decoded, source.file_samples), source.file_rate)
        payload_bytes = len(pack_frames(tokens, codec.model.codebook_size))
        encode_s, decode_s = middle - start, time.perf_counter() - middle
        timed = "file to file: reading, resampling and writing included"
    _say(
        f"{args.output}: {source.duration:.2f} s at {source.file_rate} Hz via {codec.name}; "
        f"{8 * payload_bytes / source.duration:.1f} bit/s measured; encode {encode_s:.2f} s, "
        f"decode {decode_s:.2f} s (RTF {(encode_s + decode_s) / source.duration:.3f}, {timed})"
    )


def cmd_info(args: argparse.Namespace) -> None:
    import numpy as np

    from codec.audio import open_audio
    from codec.bitstream import MAGIC, PAYLOAD_MAGIC, decode_file, decode_payload_file

    p = Path(args.input)
    if not p.is_file():
        raise UserError(f"{args.input}: no such file")
    with open(p, "rb") as f:
        head = f.read(4)
    if head == MAGIC:
        data = p.read_bytes()
        layout, _ = decode_file(data, args.input)
        seconds = layout.num_samples / layout.sample_rate
        print(f"format: .lfsc v1 (LFSC tokens)\nsample rate: {layout.sample_rate} Hz\nduration: {seconds:.3f} s")
        print(f"frames: {layout.num_frames} x {layout.num_codebooks} codebooks of {layout.codebook_size} codes")
        print(f"bits per frame: {layout.bits_per_frame}\npayload bitrate: {layout.payload_bitrate:.1f} bit/s")
        print(f"measured bitrate (whole file): {8 * len(data) / seconds:.1f} bit/s ({len(data)} bytes)")
    elif head == PAYLOAD_MAGIC:
        data = p.read_bytes()
        name, sr, n, payload = decode_payload_file(data, args.input)
        print(f"format: codec payload ({name})\nsample rate: {sr} Hz\nduration: {n / sr:.3f} s")
        print(f"measured bitrate: payload {8 * len(payload) * sr / n:.1f} bit/s, whole file {8 * len(data) * sr / n:.1f} bit/s")
    else:
        source = _notify(open_audio(args.input))
        peak = max(float(np.abs(block).max(initial=0.0)) for block in source.blocks())
        print(f"format: audio\nsample rate: {source.sample_rate} Hz\nduration: {source.duration:.3f} s")
        print(f"samples: {source.file_samples}\npeak: {peak:.3f}")


def cmd_list(args: argparse.Namespace) -> None:
    from codec.codec_table import format_codec_table
    from codec.registry import list_codecs

    print(format_codec_table(list_codecs()))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used for --help in the README)."""
    parser = argparse.ArgumentParser(
        prog="lfsc-codec", description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--codec", default="lfsc", help="registered codec name (see 'lfsc-codec list'); default lfsc")
    common.add_argument("--checkpoint", help="LFSC .nemo checkpoint")
    common.add_argument("--device", help="torch device for LFSC (default: cuda if available, else cpu)")
    common.add_argument("--trust-checkpoint", action="store_true", help="allow full unpickling of the checkpoint")
    common.add_argument(
        "--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
        help="LFSC arithmetic: fp32 is exact (default); bf16 is faster, tokens differ slightly (as --codec lfsc-bf16; "
        "docs/performance.md)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("encode", parents=[common], help="audio -> .lfsc bitstream (or a codec payload file)")
    p.add_argument("input")
    p.add_argument("output")
    p.set_defaults(func=cmd_encode)
    p = sub.add_parser("decode", parents=[common], help=".lfsc or payload file -> audio")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--rate", type=int, help="resample the output to this rate")
    p.set_defaults(func=cmd_decode)
    p = sub.add_parser("roundtrip", parents=[common], help="audio -> codec -> audio at the input's rate and length")
    p.add_argument("input")
    p.add_argument("output")
    p.set_defaults(func=cmd_roundtrip)
    p = sub.add_parser("info", help="describe an .lfsc, payload or audio file (rate, duration, frames, bitrate)")
    p.add_argument("input")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("list", help="registered codecs, rates, bitrates and availability")
    p.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes print one line and exit 2, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (UserError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:  # e.g. an unwritable output
        print(f"lfsc-codec: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
