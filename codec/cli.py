"""`lfsc-codec`: encode, decode, round-trip and inspect audio with LFSC or any registered codec."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time
from typing import TYPE_CHECKING, Callable, Iterator

from codec.devices import PRECISIONS
from codec.errors import UserError, run_cli

if TYPE_CHECKING:
    from codec.audio import AudioFile

EPILOG = """checkpoint: --checkpoint PATH, else $LFSC_CHECKPOINT, else 'checkpoint: PATH' in
~/.config/lfsc-workbench/config.yaml. LFSC codes files of any length chunk by chunk, from file to file, in
bounded memory (progress bars on a terminal); outputs appear only when complete. Examples:
  lfsc-codec roundtrip speech.wav out.wav --checkpoint lfsc.nemo
  lfsc-codec encode speech.flac speech.lfsc && lfsc-codec decode speech.lfsc speech_decoded.wav
  lfsc-codec roundtrip speech.wav out.wav --codec opus-6k
  lfsc-codec encode speech.wav speech.lfsc --codec nemo:nanocodec.nemo && lfsc-codec decode speech.lfsc out.wav \\
    --codec nemo:nanocodec.nemo
  lfsc-codec list"""


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _codec(args: argparse.Namespace, name: str | None = None):
    from codec.registry import get_codec, takes_option

    name = _entropy_coded(name or args.codec, args.entropy)
    given = {"checkpoint": args.checkpoint, "device": args.device, "trust": args.trust_checkpoint,
             "precision": args.precision, "entropy": None if args.entropy == "none" else args.entropy}
    # Each codec gets the options its factory takes: lfsc all four, lfsc-bf16 all but precision, others none.
    return get_codec(name, **{option: value for option, value in given.items()
                              if value is not None and takes_option(name, option)})


def _entropy_coded(name: str, entropy: str) -> str:
    """The codec that `--entropy` asks for: LFSC's entropy-coded twin ('lfsc' -> 'lfsc+ac'), `name` for 'none'."""
    from codec.spec import CodecSpec

    spec = CodecSpec.parse(name)
    if entropy == "none" or spec.base.endswith("+ac"):
        return name
    if spec.base not in ("lfsc", "lfsc-bf16"):
        raise UserError(f"--entropy codes LFSC's tokens; codec {spec.base!r} has none: drop --entropy")
    return str(CodecSpec(f"{spec.base}+ac", spec.conditions))


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


def _say_clipped(path: str, clipped: int) -> None:
    if clipped:
        _say(f"notice: {path}: {clipped} samples beyond full scale were clipped to [-1, 1]")


def _is_lfsc(codec) -> bool:
    # lfsc, lfsc-bf16, ...: the .lfsc bitstream of fixed-size frames; an entropy-coded payload goes in a payload file
    return codec.name.startswith("lfsc") and not codec.name.endswith("+ac")


def _say_coding_rate(source: AudioFile, codec) -> None:
    from codec.audio import RESAMPLER

    codec = codec.for_rate(source.sample_rate)
    if codec.sample_rate != source.sample_rate:
        _say(f"notice: {codec.name} codes at {codec.sample_rate} Hz: resampled {source.sample_rate} Hz -> "
             f"{codec.sample_rate} Hz and back ({RESAMPLER})")


@contextlib.contextmanager
def _progress(seconds: float, *steps: str) -> Iterator[Callable[[float], None]]:
    """A progress bar in seconds of audio for each step in turn, on a terminal's stderr and for inputs long enough
    to wait for (>= 30 s); the callback hears the fraction of all the steps done."""
    from tqdm import tqdm

    with tqdm(total=round(seconds, 1), desc=steps[0], unit="s", unit_scale=True, file=sys.stderr, leave=False,
              disable=None if seconds >= 30 else True) as bar:
        shown = 0

        def report(fraction: float) -> None:
            nonlocal shown
            step = min(int(fraction * len(steps)), len(steps) - 1)
            if step != shown:
                bar.reset()
                bar.set_description(steps[step])
                shown = step
            bar.update(round((fraction * len(steps) - step) * seconds, 3) - bar.n)

        yield report


def cmd_encode(args: argparse.Namespace) -> None:
    from codec.audio import open_audio
    from codec.bitstream import MAX_SECONDS, PayloadFile, encode_file, encode_payload_file
    from codec.files import check_output_file, replacing

    check_output_file(args.output, *_inputs(args))
    source = open_audio(args.input)
    if source.duration > MAX_SECONDS:  # a coded file may hold no more (the decoder refuses longer ones as damaged)
        raise UserError(f"{args.input}: {source.duration / 3600:.1f} h is longer than the {MAX_SECONDS // 3600} h a coded "
                        "file may hold: split it")
    codec = _codec(args).for_rate(source.sample_rate)
    source = _notify(dataclasses.replace(source, sample_rate=codec.sample_rate))
    _warn_short(args.input, source, codec)
    with _progress(source.duration, "encode") as progress:
        payload = codec.encode_blocks(source.blocks(), source.num_samples, progress)  # conditions are refused here
    model = _named_model(codec)
    if _is_lfsc(codec) or model is not None:
        layout = codec.layout(source.num_samples, source.file_rate, source.file_samples)
        data = encode_file(dataclasses.replace(layout, model=model), payload)
    else:
        data = encode_payload_file(PayloadFile(codec.name, codec.sample_rate, source.num_samples, source.file_rate,
                                               source.file_samples, payload))
    with replacing(args.output) as tmp:
        tmp.write_bytes(data)
    _say(f"{args.output}: {len(data)} bytes, {8 * len(data) / source.duration:.1f} bit/s over {source.duration:.2f} s")


def _named_model(codec):
    """The model of a codec named by its model's path (nemo:PATH, hf:MODEL), which its .lfsc file names; None for a
    registered codec."""
    from codec.bitstream import Model
    from codec.registry import PREFIXED

    prefix = next((prefix for prefix, _, _ in PREFIXED if codec.name.startswith(prefix)), None)
    return None if prefix is None else Model(prefix.rstrip(":"), codec.model_sha256[:16])


def _read_coded(path: str, args: argparse.Namespace):
    """A .lfsc or payload file as (its codec, its contents), the payload checked by its codec."""
    from codec.bitstream import MAGIC, PayloadFile, decode_file, decode_payload_file
    from codec.files import input_file

    data = input_file(path).read_bytes()
    if data[:4] != MAGIC:
        item = decode_payload_file(data, path)
        codec = _codec(args, item.codec).for_rate(item.sample_rate)
    else:
        layout, payload = decode_file(data, path)
        codec = _lfsc_codec(args, layout, path) if layout.model is None else _model_codec(args, layout, path)
        item = PayloadFile(codec.name, layout.sample_rate, layout.num_samples, layout.source_rate, layout.source_samples,
                           payload)
    if codec.sample_rate != item.sample_rate:
        raise UserError(f"{path}: {codec.name} codes at {codec.sample_rate} Hz, but the file says {item.sample_rate} Hz: "
                        "the file is damaged")
    codec.check_payload(item.payload, item.num_samples, path)
    return codec, item


def _lfsc_codec(args: argparse.Namespace, layout, path: str):
    """LFSC with the configured checkpoint, which decodes a version 1 or 2 .lfsc file of its layout."""
    codec = _codec(args, "lfsc")
    model = codec.model
    if (layout.sample_rate, layout.samples_per_frame, layout.num_codebooks, layout.codebook_size) != (
        codec.sample_rate, model.samples_per_frame, model.num_codebooks, model.codebook_size
    ):
        raise UserError(f"{path}: was coded by a model with another layout than the configured checkpoint")
    if layout.num_frames != codec.inference.frames_for(layout.num_samples):
        raise UserError(f"{path}: inconsistent .lfsc header ({layout.num_frames} frames for {layout.num_samples} "
                        "samples)")
    return codec


def _model_codec(args: argparse.Namespace, layout, path: str):
    """The codec that decodes a version 3 .lfsc file: the one --codec names (for nemo, --checkpoint too), refused
    unless its model and token layout are the file's."""
    from codec.spec import CodecSpec

    family, sha256 = layout.model.codec, layout.model.sha256
    name = CodecSpec.parse(args.codec).base
    if family == "nemo" and name == "lfsc" and args.checkpoint:
        name = f"nemo:{args.checkpoint}"
    if not name.startswith(f"{family}:"):
        how = "--codec nemo:PATH (or --checkpoint PATH)" if family == "nemo" else f"--codec {family}:MODEL[:N]"
        raise UserError(f"{path}: holds the tokens of the {family} model with sha256 {sha256}...: give it as {how}"
                        + ("" if name == "lfsc" else f", not --codec {name}"))
    codec = _codec(args, name)
    if codec.model_sha256[:16] != sha256:
        raise UserError(f"{path}: was coded by the {family} model with sha256 {sha256}..., but {codec.name} has "
                        f"{codec.model_sha256[:16]}...: give the model that coded it")
    expected = dataclasses.replace(codec.layout(layout.num_samples, layout.source_rate, layout.source_samples),
                                   model=layout.model)
    if expected != layout:
        raise UserError(f"{path}: holds {_tokens(layout)}, but {codec.name} codes {_tokens(expected)}")
    return codec


def _tokens(layout) -> str:
    """A token layout in words, to tell two apart."""
    return (f"{layout.num_frames} frames of {layout.num_codebooks} codebooks x {layout.codebook_size} codes, "
            f"{layout.samples_per_frame} samples a frame at {layout.sample_rate} Hz")


def cmd_decode(args: argparse.Namespace) -> None:
    from codec.audio import check_output_path, check_rate, resampled_length, write_audio
    from codec.files import check_output_file

    check_output_path(args.output)
    check_output_file(args.output, *_inputs(args))
    asked = None if args.rate is None else check_rate(_whole_number(args.rate, "--rate"), "--rate is")
    codec, item = _read_coded(args.input, args)
    rate = asked or item.source_rate  # by default the input's rate and length come back exactly
    length = resampled_length(item.source_samples, item.source_rate, rate)
    check_output_path(args.output, rate)
    with _progress(item.num_samples / item.sample_rate, "decode") as progress:
        clipped = write_audio(args.output, codec.decoded_at(item.payload, item.num_samples, rate, length, progress), rate)
    _say_clipped(args.output, clipped)
    _say(f"{args.output}: {length / rate:.2f} s at {rate} Hz")


def cmd_roundtrip(args: argparse.Namespace) -> None:
    from codec.audio import check_output_path, open_audio, write_audio
    from codec.files import check_output_file

    check_output_path(args.output)
    check_output_file(args.output, *_inputs(args))
    source = _notify(open_audio(args.input))
    check_output_path(args.output, source.sample_rate)
    codec = _codec(args)
    _say_coding_rate(source, codec)
    _warn_short(args.input, source, codec)
    with _progress(source.duration, "encode", "decode") as progress:
        start = time.perf_counter()
        payload, decoded = codec.roundtrip_blocks(source.blocks(), source.sample_rate, source.num_samples, progress)
        middle = time.perf_counter()
        clipped = write_audio(args.output, decoded, source.sample_rate)
    encode_s, decode_s = middle - start, time.perf_counter() - middle
    _say_clipped(args.output, clipped)
    _say(
        f"{args.output}: {source.duration:.2f} s at {source.sample_rate} Hz via {codec.name}; "
        f"{8 * len(payload) / source.duration:.1f} bit/s measured; encode {encode_s:.2f} s, decode {decode_s:.2f} s "
        f"(RTF {(encode_s + decode_s) / source.duration:.3f}, file to file: reading, resampling and writing included)"
    )


def cmd_info(args: argparse.Namespace) -> None:
    import numpy as np

    from codec.audio import open_audio
    from codec.bitstream import MAGIC, PAYLOAD_MAGIC, decode_file, decode_payload_file
    from codec.entropy import MAGIC as ENTROPY_MAGIC
    from codec.entropy import read_header
    from codec.files import input_file

    p = input_file(args.input)
    with open(p, "rb") as f:
        head = f.read(4)
    if head == MAGIC:
        data = p.read_bytes()
        layout, _ = decode_file(data, args.input)
        seconds = layout.num_samples / layout.sample_rate
        model = layout.model
        tokens = "LFSC tokens" if model is None else f"{model.codec} tokens of the model with sha256 {model.sha256}..."
        print(f"format: .lfsc ({tokens})\nsample rate: {layout.sample_rate} Hz\nduration: {seconds:.3f} s")
        print(f"input: {layout.source_samples} samples at {layout.source_rate} Hz (what decode gives back)")
        print(f"frames: {layout.num_frames} x {layout.num_codebooks} codebooks of {layout.codebook_size} codes")
        print(f"bits per frame: {layout.bits_per_frame}\npayload bitrate: {layout.payload_bitrate:.1f} bit/s")
        print(f"measured bitrate (whole file): {8 * len(data) / seconds:.1f} bit/s ({len(data)} bytes)")
    elif head == PAYLOAD_MAGIC:
        data = p.read_bytes()
        item = decode_payload_file(data, args.input)
        seconds = item.num_samples / item.sample_rate
        print(f"format: codec payload ({item.codec})\nsample rate: {item.sample_rate} Hz\nduration: {seconds:.3f} s")
        print(f"input: {item.source_samples} samples at {item.source_rate} Hz (what decode gives back)")
        print(f"measured bitrate: payload {8 * len(item.payload) / seconds:.1f} bit/s, whole file "
              f"{8 * len(data) / seconds:.1f} bit/s")
        if item.payload[:4] == ENTROPY_MAGIC:
            header, _ = read_header(item.payload)
            print(f"entropy coding: {header.model}" + (f" (prior {header.prior_sha256[:12]})" if header.prior_sha256 else "")
                  + f", {header.num_frames} frames x {header.num_codebooks} codebooks of {header.codebook_size} codes")
    else:
        source = _notify(open_audio(args.input))
        peak = max(float(np.abs(block).max(initial=0.0)) for block in source.blocks())
        print(f"format: audio\nsample rate: {source.sample_rate} Hz\nduration: {source.duration:.3f} s")
        print(f"samples: {source.file_samples}\npeak: {peak:.3f}" + (" (of the mono downmix)" if source.channels > 1 else ""))


def cmd_list(args: argparse.Namespace) -> None:
    from codec.codec_table import codec_table_json, format_codec_table
    from codec.registry import CHECKPOINTS, list_codecs

    if args.json:
        print(codec_table_json(list_codecs(), CHECKPOINTS))
        return
    print(format_codec_table(list_codecs(), CHECKPOINTS))
    print("\nAny codec can hear its input under conditions: NAME@white10 (white noise at 10 dB SNR), @pink5, "
          "@reverb0.6 (RT60 in s), @level-36 (dBFS), @tel (300-3400 Hz); chain them, e.g. opus-6k@reverb0.6@white10.")


def _inputs(args: argparse.Namespace) -> list[str]:
    """The files a command reads, which its output must never replace: a model named by its path (nemo:PATH) too."""
    from codec.registry import PREFIXED
    from codec.spec import CodecSpec

    prior = args.entropy.partition(":")[2] if ":" in args.entropy else None
    base = CodecSpec.parse(args.codec).base
    model = next((base[len(prefix):] for prefix, _, _ in PREFIXED if base.startswith(prefix)), None)
    return [path for path in (args.input, args.checkpoint, prior, model) if path]


def _whole_number(text: str, option: str) -> int:
    if not text.strip().isdecimal():
        raise UserError(f"{option} {text}: give a whole number of Hz")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used for --help in the README)."""
    parser = argparse.ArgumentParser(
        prog="lfsc-codec", description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--codec", default="lfsc", help="registered codec name (see 'lfsc-codec list'), optionally with "
                        "input conditions such as opus-6k@white10; default lfsc")
    common.add_argument("--checkpoint", help="LFSC .nemo checkpoint")
    common.add_argument("--device", help="torch device for LFSC (default: cuda if available, else cpu)")
    common.add_argument("--trust-checkpoint", action="store_true", help="allow full unpickling of the checkpoint")
    common.add_argument(
        "--precision", choices=PRECISIONS, default="fp32",
        help="LFSC arithmetic: fp32 is exact (default); bf16 is faster, tokens differ slightly (as --codec lfsc-bf16; "
        "docs/performance.md)",
    )
    common.add_argument(
        "--entropy", default="none", metavar="none|adaptive|prior:FILE|context:FILE",
        help="LFSC only: entropy-code the tokens, losslessly, in fewer bits than the fixed 88 a frame (codec lfsc+ac, "
        "written as a payload file): adaptive needs nothing else; a prior fitted by 'lfsc-eval tokens --fit-prior' "
        "codes tighter, and decoding needs the same prior; default none",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("encode", parents=[common], help="audio -> .lfsc bitstream (or a codec payload file)")
    p.add_argument("input")
    p.add_argument("output")
    p.set_defaults(func=cmd_encode)
    p = sub.add_parser("decode", parents=[common], help=".lfsc or payload file -> audio at the input's rate and length")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--rate", help="resample the output to this rate (Hz, 1000 to 768000; default: the input's)")
    p.set_defaults(func=cmd_decode)
    p = sub.add_parser("roundtrip", parents=[common], help="audio -> codec -> audio at the input's rate and length")
    p.add_argument("input")
    p.add_argument("output")
    p.set_defaults(func=cmd_roundtrip)
    p = sub.add_parser("info", help="describe an .lfsc, payload or audio file (rate, duration, frames, bitrate)")
    p.add_argument("input")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("list", help="registered codecs: rates, frames, codebooks, bitrates, causality, licences and "
                       "availability; the checkpoints 'nemo:' and 'hf:' run")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes print one line and exit 2, never a traceback."""
    args = build_parser().parse_args(argv)
    return run_cli("lfsc-codec", lambda: args.func(args))

if __name__ == "__main__":
    sys.exit(main())
