"""Hugging Face neural codecs through `transformers`: EnCodec, DAC, Mimi and X-codec named 'hf:FOLDER' or
'hf:OWNER/MODEL'.

A folder in save_pretrained layout loads offline; a hub id loads from the Hugging Face cache, or from the hub where
there is network. The model's type (its config's model_type) picks the class and how it codes from one table. The
payload is the codes [codebooks, frames] packed in mixed radix (codec.bitstream.pack_frames), so its size is what the
codes need: ceil(frames x log2(codebook_size ** codebooks) / 8) bytes. The input is zero-padded to whole frames; the
transformers implementations pad their convolutions so that decoded sample i is input sample i (EnCodec and Mimi
causally, DAC symmetrically; X-codec is DAC's encoder and decoder with HuBERT features of the input padded half a
frame each side), so the delay is 0 and the output is the decoded audio cut to the input's length.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from codec.bitstream import Layout, frame_bits, pack_frames, unpack_frames
from codec.devices import resolve_device
from codec.errors import UserError
from codec.hashing import file_sha256
from codec.interface import Codec

HOW_TO_DOWNLOAD = "download it where there is network (huggingface-cli download ID) or give a save_pretrained folder"


@dataclass(frozen=True)
class Family:
    """How one model_type codes: its transformers class, where its rate, frame size and codebook count live, the
    encode options that set the codebooks, and the calls that turn [1, 1, samples] audio into codes and back."""

    class_name: str
    rate_attribute: str  # the config attribute holding the sample rate
    frame_attribute: str  # the config attribute holding samples per frame
    codebooks_attribute: str  # the config attribute (or property) holding the most codebooks it has
    bitrate_option: Callable[[Any, int], dict[str, Any]]  # (model, codebooks) -> the encode options that select them
    codes: Callable[[Any], Any]  # the encoder's output -> codes [1, codebooks, frames]
    decode: Callable[[Any, Any], Any]  # (model, codes [1, codebooks, frames]) -> audio [..., samples]


def _target_bandwidth(model: Any, codebooks: int) -> dict[str, Any]:
    """The target bandwidth at which EnCodec or X-codec codes with `codebooks` codebooks (they code only at those)."""
    counts = {model.quantizer.get_num_quantizers_for_bandwidth(b): b for b in model.config.target_bandwidths}
    if codebooks not in counts:
        raise UserError(f"this {model.config.model_type} codes with {', '.join(map(str, counts))} codebooks only "
                        f"(at its target bandwidths), not {codebooks}")
    return {"bandwidth": counts[codebooks]}


FAMILIES: dict[str, Family] = {
    # EnCodec's codes are [chunks, 1, codebooks, frames]: one chunk, as models that chunk are refused at load.
    "encodec": Family("EncodecModel", "sampling_rate", "hop_length", "num_quantizers", _target_bandwidth,
                      lambda encoded: encoded.audio_codes[0],
                      lambda model, codes: model.decode(codes[None], [None]).audio_values),
    "dac": Family("DacModel", "sampling_rate", "hop_length", "n_codebooks", lambda model, n: {"n_quantizers": n},
                  lambda encoded: encoded.audio_codes,
                  lambda model, codes: model.decode(audio_codes=codes).audio_values),
    "mimi": Family("MimiModel", "sampling_rate", "frame_size", "num_quantizers",
                   lambda model, n: {"num_quantizers": n}, lambda encoded: encoded.audio_codes,
                   lambda model, codes: model.decode(codes).audio_values),
    # X-codec's hop length and codebook count are config properties: the product of its DAC's downsampling ratios,
    # and what its highest target bandwidth holds.
    "xcodec": Family("XcodecModel", "sample_rate", "hop_length", "num_quantizers", _target_bandwidth,
                     lambda encoded: encoded.audio_codes, lambda model, codes: model.decode(codes).audio_values),
}


def _load_config(model: str) -> tuple[Any, bool]:
    """The model's config and whether it is a local folder; a one-line UserError when there is none to load."""
    from transformers import AutoConfig

    local = Path(model).expanduser()
    if local.is_dir():
        try:
            return AutoConfig.from_pretrained(local, local_files_only=True), True
        except (OSError, ValueError) as error:
            raise UserError(f"hf:{model}: not a saved transformers model ({str(error).splitlines()[0]})") from None
    if model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise UserError(f"hf:{model}: no such folder, and not a hub id (OWNER/MODEL)")
    for offline in (True, False):  # the cache first, so that a cached model loads without network
        try:
            return AutoConfig.from_pretrained(model, local_files_only=offline), False
        except (OSError, ValueError):
            continue
    raise UserError(f"hf:{model}: not in the Hugging Face cache and the hub cannot be reached: {HOW_TO_DOWNLOAD}")


class HFCodec(Codec):
    """A transformers neural codec (EnCodec, DAC, Mimi, X-codec) at its own rate, frame size and a chosen codebook
    count."""

    def __init__(self, model: str, codebooks: int | None = None, device: str = "auto"):
        if not model:
            raise UserError("give the model after the prefix: hf:OWNER/MODEL or hf:PATH/TO/FOLDER")
        config, local = _load_config(model)
        self.family = FAMILIES.get(config.model_type)
        if self.family is None:
            raise UserError(f"hf:{model}: model type {config.model_type!r} is not a codec this tool runs "
                            f"(it runs {', '.join(FAMILIES)})")
        if config.model_type == "encodec" and (config.normalize or config.chunk_length_s):
            raise UserError(f"hf:{model}: EnCodec models that normalize or code in chunks (48 kHz) are not supported")
        self.model = _load_model(model, self.family.class_name, resolve_device(device))
        most = int(getattr(config, self.family.codebooks_attribute))
        self.codebooks = most if codebooks is None else int(codebooks)
        if not 1 <= self.codebooks <= most:
            raise UserError(f"hf:{model}: codebooks must be 1..{most}, not {codebooks}")
        try:
            self.encode_options = self.family.bitrate_option(self.model, self.codebooks)
        except UserError as error:
            raise UserError(f"hf:{model}: {error}") from None
        self.name = f"hf:{model}" + ("" if codebooks is None else f":{self.codebooks}")
        self.sample_rate = int(getattr(config, self.family.rate_attribute))
        self.samples_per_frame = int(getattr(config, self.family.frame_attribute))
        self.codebook_size = int(config.codebook_size)
        frame_rate = self.sample_rate / self.samples_per_frame
        self.nominal_bitrate = self.codebooks * math.log2(self.codebook_size) * frame_rate
        # What identifies this codec's output for eval's cache: the weights (or the hub commit) and the codebooks.
        self.settings = {"model": model, "config_sha256": hashlib.sha256(config.to_json_string().encode()).hexdigest(),
                         "weights": _weights_identity(model, config, local), "codebooks": self.codebooks}
        # The model a version 3 .lfsc file names: its config and weights, whatever the codebook count.
        identity = f"{self.settings['config_sha256']} {self.settings['weights']}"
        self.model_sha256 = hashlib.sha256(identity.encode()).hexdigest()

    def frames(self, num_samples: int) -> int:
        """Frames that code `num_samples` (the input zero-padded to whole frames, one frame at least)."""
        return max(1, math.ceil(num_samples / self.samples_per_frame))

    def layout(self, num_samples: int, source_rate: int, source_samples: int) -> Layout:
        """The .lfsc layout of a clip of `num_samples` at the codec's rate, made from `source_samples` at
        `source_rate`: its codebooks are one level of `codebook_size` each."""
        return Layout(self.sample_rate, num_samples, self.samples_per_frame, self.frames(num_samples),
                      (self.codebook_size,), self.codebooks, source_rate, source_samples)

    def tokens(self, audio: np.ndarray) -> np.ndarray:
        """The model's codes [codebooks, frames] of mono float32 `audio` at the native rate."""
        import torch

        padded = np.zeros(self.frames(len(audio)) * self.samples_per_frame, dtype=np.float32)
        padded[:len(audio)] = audio
        with torch.inference_mode():
            tensor = torch.from_numpy(padded).to(self.model.device)[None, None]
            return self.family.codes(self.model.encode(tensor, **self.encode_options))[0].cpu().numpy()

    def synthesize(self, codes: np.ndarray, num_samples: int) -> np.ndarray:
        """The model's decoding of `codes` [codebooks, frames], cut (or zero-padded) to `num_samples`."""
        import torch

        with torch.inference_mode():
            tensor = torch.from_numpy(np.asarray(codes, dtype=np.int64)).to(self.model.device)[None]
            decoded = self.family.decode(self.model, tensor).float().cpu().numpy().reshape(-1)
        out = np.zeros(num_samples, dtype=np.float32)
        out[:min(num_samples, len(decoded))] = decoded[:num_samples]
        return out

    def encode(self, audio: np.ndarray) -> bytes:
        """The codes packed in mixed radix: the fewest whole bits per frame."""
        return pack_frames(self.tokens(audio), self.codebook_size)

    def decode(self, payload: bytes, num_samples: int) -> np.ndarray:
        """The packed codes decoded by the model, as long as the input."""
        self.check_payload(payload, num_samples)
        codes = unpack_frames(payload, self.frames(num_samples), self.codebooks, self.codebook_size)
        return self.synthesize(codes, num_samples)

    def payload_problem(self, payload: bytes, num_samples: int) -> str:
        """Another size than the packed codes of `num_samples` take (a frame out of range is found on unpacking)."""
        expected = (self.frames(num_samples) * frame_bits(self.codebook_size, self.codebooks) + 7) // 8
        if len(payload) != expected:
            return f"it is {len(payload)} bytes, not the {expected} of {self.frames(num_samples)} frames"
        return ""


def hf_codec(model: str, device: str = "auto") -> HFCodec:
    """The registry's 'hf:MODEL' or 'hf:MODEL:CODEBOOKS' (fewer codebooks than the model has: a lower bitrate); the
    count is in the name, so eval rows, caches and the app tell the bitrates apart."""
    named, colon, count = model.rpartition(":")
    if colon and count.isdigit() and not Path(model).expanduser().is_dir():
        return HFCodec(named, int(count), device)
    return HFCodec(model, None, device)


def _load_model(model: str, class_name: str, device: str) -> Any:
    """The transformers model, in eval mode on `device`, from the cache first."""
    import transformers

    model_class = getattr(transformers, class_name)
    try:
        loaded = model_class.from_pretrained(model, local_files_only=True)
    except OSError:
        try:
            loaded = model_class.from_pretrained(model)
        except OSError:
            raise UserError(f"hf:{model}: its weights are not here and the hub cannot be reached: "
                            f"{HOW_TO_DOWNLOAD}") from None
    return loaded.to(device).eval()


def _weights_identity(model: str, config: Any, local: bool) -> str:
    """The sha256 of a local folder's weight files, or the hub commit of a hub model."""
    if not local:
        return str(getattr(config, "_commit_hash", "") or "")
    files = sorted(Path(model).expanduser().glob("*.safetensors")) + sorted(Path(model).expanduser().glob("*.bin"))
    return hashlib.sha256("".join(file_sha256(path) for path in files).encode()).hexdigest()
