"""Read and write NeMo `.nemo` checkpoints of LFSC without NeMo: a tar holding model_config.yaml and model_weights.ckpt.

Reading is bounded whatever the file holds: each tar header is checked before the next is read (in a gzipped
archive, getting past a member means decompressing it), the config is validated (codec.lfsc.schema) before the
weights are read, and the weights are checked against the model the config describes before they are loaded. A bad
file is a one-line UserError naming what is wrong."""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import re
import struct
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, Any, Callable

import torch
import yaml

from codec.devices import default_device
from codec.errors import UserError
from codec.files import replacing
from codec.lfsc.model import LFSCConfig, LFSCModel, MelEncoderConfig
from codec.lfsc.quantizer import GroupFiniteScalarQuantizer
from codec.lfsc.schema import build_config, shown
from codec.safe_yaml import MAX_BYTES as MAX_CONFIG_BYTES
from codec.safe_yaml import parse_yaml

CONFIG_NAME = "model_config.yaml"
WEIGHTS_NAME = "model_weights.ckpt"
GENERATOR_PREFIXES = ("audio_encoder.", "vector_quantizer.", "audio_decoder.")
# Training-only modules whose tensors a .nemo may carry; inference ignores them.
IGNORED_PREFIXES = ("discriminator.", "mel_loss_fn.", "stft_loss_fn.")
REQUIRED = object()  # a NeMo constructor argument without a default
_HIFIGAN = {"resblock_kernel_sizes": [3, 7, 11], "resblock_dilation_sizes": [1, 3, 5], "activation": "lrelu",
            "in_kernel_size": 7}
_DECODER = {**_HIFIGAN, "input_dim": REQUIRED, "up_sample_rates": [8, 8, 2, 2], "base_channels": 512,
            "out_kernel_size": 3, "output_activation": "tanh"}
# The NeMo module classes this loader builds, by config section and class name: each class's constructor arguments
# with NeMo's defaults (what a config that omits one gets; any other argument is refused), and what the class itself
# implies (`causal`). The model built from them is codec.lfsc.model's.
NEMO_TARGETS: dict[str, dict[str, tuple[dict[str, Any], dict[str, Any]]]] = {
    "audio_encoder": {
        "HiFiGANEncoder": ({**_HIFIGAN, "encoded_dim": REQUIRED, "down_sample_rates": [2, 2, 8, 8],
                            "base_channels": 32, "out_kernel_size": 7, "pad_mode": "reflect"}, {}),
        # the Mel Codec's: its own arguments, then its ResNetEncoders'; mel_processor is a section of its own
        "MultiBandMelEncoder": ({"mel_bands": REQUIRED, "mel_processor": REQUIRED, "out_channels": REQUIRED,
                                 "num_layers": 6, "hidden_channels": 256, "filters": 768, "kernel_size": 3,
                                 "dropout_rate": 0.1, "activation": "lrelu", "pad_mode": "reflect"}, {}),
    },
    "audio_decoder": {
        "HiFiGANDecoder": ({**_DECODER, "pad_mode": "reflect", "n_groups_equal_to_out_channels": False},
                           {"causal": False}),
        "CausalHiFiGANDecoder": ({**_DECODER, "pad_mode": "zeros", "n_groups_equal_to_out_channels": True},
                                 {"causal": True}),
    },
    "vector_quantizer": {
        "GroupFiniteScalarQuantizer": ({"num_groups": REQUIRED, "num_levels_per_group": REQUIRED, "eps": 1e-3}, {}),
    },
}
# The targets of MultiBandMelEncoder's mel_processor, as above; their arguments join the encoder's settings.
MEL_PROCESSORS = {
    "MelSpectrogramProcessor": ({"sample_rate": REQUIRED, "win_length": REQUIRED, "hop_length": REQUIRED,
                                 "mel_dim": 80, "log_guard": 1.0}, {}),
}
NEMO_CLASS = "nemo.collections.tts.models.audio_codec.AudioCodecModel"
MODULE_PATH = "nemo.collections.tts.modules.audio_codec_modules"

# What a .nemo may hold: NeMo's LFSC checkpoint is two files (and perhaps the folder "./"), 619 MB in all.
MAX_MEMBERS = 64
MAX_CONTENT_BYTES = 4 << 30
# Pax and GNU long-name headers carry paths and times: a few hundred bytes. tarfile reads each whole, and reads the
# header after it recursively, before it hands out the member.
MAX_EXTENDED_HEADER_BYTES = 64 << 10
MAX_EXTENDED_HEADERS = 32
_EXTENDED_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                   tarfile.GNUTYPE_LONGLINK)
# torch.save writes a zip since PyTorch 1.6, and before that pickles behind a magic number (any pickle protocol).
ZIP_MAGIC = b"PK\x03\x04"
LEGACY_MAGICS = tuple(pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=p)
                      for p in range(2, pickle.HIGHEST_PROTOCOL + 1))
# What reading a damaged tar, plain or gzipped, raises (zlib.error: corrupt deflate data).
_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error)
# What zipfile raises for a damaged zip (NotImplementedError: a version or method it lacks; RuntimeError: encrypted).
_ZIP_ERRORS = (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, EOFError, struct.error)
_REFERENCE = re.compile(r"\$\{([\w.]+)\}")


class _Refused(Exception):
    """A member or header that no .nemo holds, seen before tarfile reads it (raised from inside tarfile's reading,
    whose own handlers let it through)."""


class _Header(tarfile.TarInfo):
    """A tar header refused before tarfile acts on it when acting would read without bound: an old GNU sparse member
    (tarfile gathers its sparse map block after block) or too large or too many extended headers."""

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:  # tarfile's hook for each header read
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise _Refused(f"it holds {self.name!r:.80}, a sparse file, where a .nemo holds plain files")
        if self.type in _EXTENDED_TYPES:
            archive.extended_headers += 1
            if self.size > MAX_EXTENDED_HEADER_BYTES or archive.extended_headers > MAX_EXTENDED_HEADERS:
                raise _Refused("it has tar extension headers larger or more numerous than any .nemo has")
        return super()._proc_member(archive)


class _MemberFile(tarfile.ExFileObject):
    """A member's bytes, each read cut to what is left: io.BufferedReader.read(n) allocates n bytes before it reads,
    and a damaged pickle asks for up to 2**63."""

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size >= 0:
            size = min(size, max(self.raw.size - self.tell(), 0))
        return super().read(size)


class _Archive(tarfile.TarFile):
    """A tar read through _Header, its members through _MemberFile."""

    tarinfo = _Header
    fileobject = _MemberFile
    extended_headers = 0


def check_checkpoint(path: str | os.PathLike) -> None:
    """Refuse (one-line UserError) a file that is not a readable LFSC .nemo, without reading its weights or building
    the model: a regular file, a tar archive holding a config that passes codec.lfsc.schema, and weights in a
    torch.save format."""
    _read_nemo(Path(path), trust=False, weights=False)


def _read_nemo(path: Path, trust: bool, weights: bool = True) -> tuple[LFSCConfig, dict[str, torch.Tensor] | None]:
    """The checked config and the tensors of the .nemo at `path` (with `weights=False`, only the weights' format
    checked, and no tensors)."""
    _check_file(path)
    try:
        with _open_archive(path) as tar:
            members = _members(tar, path)
            config = config_from_dict(_read_config(tar, members[CONFIG_NAME], path), f"{path}: {CONFIG_NAME}")
            if not weights:
                _weights_format(tar.extractfile(members[WEIGHTS_NAME]), members[WEIGHTS_NAME].size,
                                f"{path}: {WEIGHTS_NAME}")
                return config, None
            state = _load_weights(tar, members[WEIGHTS_NAME], path, trust)
    except _Refused as exc:
        raise UserError(f"{path}: not an LFSC .nemo checkpoint: {exc}") from None
    except PermissionError:
        raise  # codec.errors words it: the file is fine, its permissions are not
    except _ARCHIVE_ERRORS as exc:
        raise UserError(f"{path}: not a readable .nemo archive ({_first_line(exc)}); "
                        "re-download or re-export it") from None
    return config, state


def _check_file(path: Path) -> None:
    """Refuse what is not a non-empty regular file."""
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give the .nemo file itself")
    if not path.exists():
        raise UserError(f"{path}: no such checkpoint file")
    if not path.is_file():
        raise UserError(f"{path}: not a regular file; give a .nemo file")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: the file is empty; re-download or re-export the checkpoint")


def _open_archive(path: Path) -> tarfile.TarFile:
    """The .nemo as a tar: plain, or gzipped as very old ones are (NeMo itself tries exactly these two)."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    try:
        return _Archive.open(path, "r:gz" if gzipped else "r:")
    except tarfile.ReadError:
        raise tarfile.ReadError("gzipped, but not a tar archive" if gzipped else "not a tar archive") from None


def _members(tar: tarfile.TarFile, path: Path) -> dict[str, tarfile.TarInfo]:
    """The config and weights members (matched by file name), each header checked before the next is read."""
    found, total = {}, 0
    while (member := tar.next()) is not None:
        name = f"{member.name!r:.80}"
        if len(tar.members) > MAX_MEMBERS:
            raise _Refused(f"it holds more than {MAX_MEMBERS} members")
        if PurePosixPath(member.name).is_absolute() or ".." in PurePosixPath(member.name).parts:
            raise _Refused(f"it holds {name}, a path outside the archive")  # which NeMo refuses to extract
        if not (member.isfile() or member.isdir()):
            kind = ("a symbolic link" if member.issym() else "a hard link" if member.islnk() else
                    "a device" if member.ischr() or member.isblk() else "a FIFO" if member.isfifo() else
                    f"of tar type {member.type!r}")
            raise _Refused(f"it holds {name}, {kind}, where a .nemo holds plain files")
        total += member.size
        if total > MAX_CONTENT_BYTES:
            raise _Refused(f"it holds more than {MAX_CONTENT_BYTES >> 30} GiB (at {name}, of {member.size} bytes)")
        base = PurePosixPath(member.name).name
        if base not in (CONFIG_NAME, WEIGHTS_NAME):
            continue
        if base in found or not member.isfile():
            raise _Refused(f"it holds {name}, {'a second' if base in found else 'a folder named'} {base}")
        if base == CONFIG_NAME and member.size > MAX_CONFIG_BYTES:
            raise _Refused(f"its {CONFIG_NAME} is {member.size} bytes, more than the {MAX_CONFIG_BYTES} accepted "
                           "(NeMo's is about 10 KB)")
        found[base] = member
    missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if n not in found]
    if missing:
        raise UserError(f"{path}: not an LFSC .nemo checkpoint (missing {', '.join(missing)} in the archive)")
    return found


def _read_config(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path) -> Any:
    """The YAML document in the config member, read no further than the size limit whatever the header says."""
    return parse_yaml(tar.extractfile(member).read(MAX_CONFIG_BYTES + 1), f"{path}: {CONFIG_NAME}")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _deref(value: Any, root: dict, where: str, items: bool = False) -> Any:
    """`value` with OmegaConf-style whole-string ${key} references to top-level keys followed (NeMo saves them
    resolved, users may not), and with `items`, those of a list's items; a reference that comes back to itself is
    refused. Only what LFSC reads is followed: one value each, so references cannot multiply."""
    chain: list[str] = []
    while isinstance(value, str) and (ref := _REFERENCE.fullmatch(value)) and ref.group(1) in root:
        chain.append(ref.group(1))
        if chain.count(chain[-1]) > 1:
            raise UserError(f"{where}: the reference ${{{chain[0]}}} never ends ({' -> '.join(chain)})")
        value = root[chain[-1]]
    return [_deref(v, root, where) for v in value] if items and isinstance(value, list) else value


def config_from_dict(config: Any, where: str = CONFIG_NAME) -> LFSCConfig:
    """Build an LFSCConfig from a NeMo model_config.yaml mapping: other architectures are refused and every value
    is checked (codec.lfsc.schema) before anything is built; `where` starts every error message."""
    if not isinstance(config, dict):
        raise UserError(f"{where}: does not hold a model configuration (a mapping of settings)")
    if _deref(config.get("encoder_noise_stdev"), config, where):
        raise UserError(f"{where}: encoder_noise_stdev is set; LFSC has no encoder noise")
    values: dict[str, Any] = {}
    for key in ("sample_rate", "samples_per_frame"):
        if key not in config:
            raise UserError(f"{where}: lacks {key!r}")
        values[key] = _deref(config[key], config, where)

    def deref(value: Any) -> Any:
        return _deref(value, config, where, items=True)

    for name, targets in NEMO_TARGETS.items():
        section = _deref(config.get(name), config, where)
        if not isinstance(section, dict):
            raise UserError(f"{where}: has no '{name}' section; this is not a NeMo audio codec checkpoint")
        values[name] = _section_values(name, section, targets, deref, where)
        if "mel_processor" in values[name]:
            processor = values[name].pop("mel_processor")
            if not isinstance(processor, dict):
                raise UserError(f"{where}: {name}.mel_processor must be a mapping of settings, got {shown(processor)}")
            values[name].update(_section_values(f"{name}.mel_processor", processor, MEL_PROCESSORS, deref, where))
    return build_config(values, where)


def _section_values(name: str, section: dict, targets: dict, deref: Callable[[Any], Any], where: str) -> dict:
    """The generator settings of one config section: its _target_'s NeMo defaults overridden by the section's own
    arguments (references followed by `deref`), and what the target implies; an unknown target or argument, or a
    missing required one, is a one-line UserError naming it."""
    given = deref(section.get("_target_", ""))
    target = given.rpartition(".")[2] if isinstance(given, str) else ""
    if target not in targets:
        given = shown(given) if given else "unspecified"
        raise UserError(f"{where}: checkpoint of another architecture ({name} is {given}; this loader builds "
                        f"{' or '.join(targets)})")
    defaults, implied = targets[target]
    unknown = [key for key in section if key != "_target_" and key not in defaults]
    if unknown:
        raise UserError(f"{where}: {name} ({target}) has arguments this loader does not support: {shown(unknown)}")
    values = {**defaults, **{key: deref(value) for key, value in section.items() if key != "_target_"}, **implied}
    missing = [key for key, value in values.items() if value is REQUIRED]
    if missing:
        raise UserError(f"{where}: {name} ({target}) lacks {', '.join(missing)}")
    return values


def _load_weights(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path, trust: bool) -> dict[str, torch.Tensor]:
    """The state dict in the weights member, read straight from the archive (no temporary copy of a 600 MB file)."""
    what = f"{path}: {WEIGHTS_NAME}"
    stream = tar.extractfile(member)
    zipped = _weights_format(stream, member.size, what)
    try:
        obj = torch.load(stream, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not _pickles_parse(stream, zipped):
            raise UserError(f"{what} is damaged (its pickle does not parse); re-download it") from None
        if not trust:
            raise UserError(f"{what} needs full unpickling, which can run arbitrary code; if you trust this file, "
                            "pass --trust-checkpoint (trust=True)") from None
        stream.seek(0)
        obj = _unpickle_trusted(stream, what)
    except (MemoryError, *_ARCHIVE_ERRORS):  # out of memory, or the archive around the weights is damaged
        raise
    except Exception as exc:  # noqa: BLE001 - PyTorch checks a damaged pickle with asserts and lookups: anything
        raise UserError(f"{what} is damaged ({type(exc).__name__}: {_first_line(exc)}); re-download it") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # a Lightning checkpoint
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise UserError(f"{what} does not hold a state dict of named tensors")
    return obj


def _weights_format(stream: IO[bytes], size: int, what: str) -> bool:
    """Whether the weights are torch.save's zip (else its legacy pickles); a UserError for anything else, or for a
    zip with records torch.save never writes. Leaves `stream` at its start."""
    head = stream.read(max(map(len, LEGACY_MAGICS)))
    stream.seek(0)
    zipped = head.startswith(ZIP_MAGIC)
    if zipped:
        _check_zip_records(stream, size, what)
    elif not head.startswith(LEGACY_MAGICS):
        raise UserError(f"{what} is not a PyTorch weights file (neither format of torch.save); "
                        "re-download or re-export the checkpoint")
    return zipped


def _check_zip_records(stream: IO[bytes], size: int, what: str) -> None:
    """Refuse compressed records, which torch.save never writes: PyTorch's reader allocates the size a record claims,
    so a small deflated record could claim gigabytes. Stored records together fit in the member."""
    try:
        with zipfile.ZipFile(stream) as archive:
            records = archive.infolist()
    except _ZIP_ERRORS as exc:
        raise UserError(f"{what} is damaged (not a readable zip: {_first_line(exc)}); re-download it") from None
    finally:
        stream.seek(0)
    if any(r.compress_type != zipfile.ZIP_STORED or r.compress_size != r.file_size for r in records) or \
            sum(r.file_size for r in records) > size:
        raise UserError(f"{what} holds compressed records, which torch.save never writes; re-download or re-export it")


def _pickles_parse(stream: IO[bytes], zipped: bool) -> bool:
    """Whether the pickles of a weights file parse, opcode by opcode, without running anything: then weights-only
    loading refused what they hold (objects that need full unpickling), not damage, and full unpickling is bounded
    by their size."""
    try:
        if zipped:
            with zipfile.ZipFile(stream) as archive:
                name = next(n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "data.pkl")
                pickles, stream = 1, io.BytesIO(archive.read(name))
        else:
            pickles = 5  # the legacy format: magic number, protocol, system info, the object, its storage keys
            stream.seek(0)
        for _ in range(pickles):
            for count, (opcode, arg, _) in enumerate(pickletools.genops(stream)):  # up to the pickle's STOP
                # Python numbers memo entries 0, 1, 2...; its unpickler sizes the memo by the largest index, so a
                # damaged one could claim gigabytes.
                if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT") and arg > count:
                    return False
    except (*_ZIP_ERRORS, StopIteration):  # and ValueError: what pickletools raises for a malformed pickle
        return False
    return True


def _unpickle_trusted(stream: IO[bytes], what: str) -> Any:
    """Full unpickling, which the user asked for: it runs whatever the file names, so any failure means the file
    cannot be loaded."""
    try:
        return torch.load(stream, map_location="cpu", weights_only=False)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - the file's own code may raise anything
        raise UserError(f"{what} cannot be unpickled ({type(exc).__name__}: {_first_line(exc)}); "
                        "re-download it") from None


def generator_state_dict(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Keep the generator's tensors, with weight norm spelt as torch.nn.utils.parametrizations does."""
    out, foreign = {}, []
    for key, value in state.items():
        if key.startswith(GENERATOR_PREFIXES):
            key = key.replace(".weight_g", ".parametrizations.weight.original0")
            key = key.replace(".weight_v", ".parametrizations.weight.original1")
            out[key] = value
        elif not key.startswith(IGNORED_PREFIXES):
            foreign.append(key)
    if foreign:
        raise UserError(f"{path}: unexpected keys for LFSC: {_key_list(foreign)}")
    return out


def _key_list(keys: list[str], limit: int = 5) -> str:
    text = ", ".join(sorted(keys)[:limit])
    return text + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def load_lfsc(
    path: str | os.PathLike,
    device: str | torch.device | None = None,
    trust: bool = False,
    fold_weight_norm: bool = True,
) -> LFSCModel:
    """Load an LFSC generator from a .nemo file onto `device` (CUDA when available), in eval mode."""
    path = Path(path)
    config, state = _read_nemo(path, trust)
    with torch.device("meta"):  # no random init to throw away: the checkpoint's tensors become the parameters
        model = LFSCModel(config)
    model.load_state_dict(_checked_state(generator_state_dict(state, path), model, path), strict=True, assign=True)
    del state  # else the weight-norm tensors outlive the folding below
    if fold_weight_norm:
        fold_weight_norms(model)
    _check_conv_weights(model, path)
    return model.to(device or default_device()).eval()


def _checked_state(state: dict[str, torch.Tensor], model: LFSCModel, path: Path) -> dict[str, torch.Tensor]:
    """`state` checked against the tensors of `model` (built on the meta device): the same keys and shapes, finite
    floating-point weights (float64 and half precisions cast to float32, as NeMo's load_state_dict copies them), and
    the quantizer's integer buffers equal to those its config gives."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys ({_key_list(missing)})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} keys ({_key_list(unexpected)})")
        raise UserError(f"{path}: weights do not match the LFSC architecture in its config: {'; '.join(parts)}")
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items() if state[k].shape != v.shape]
    if wrong:
        raise UserError(f"{path}: weight shapes do not match the config: {_key_list(wrong, 3)}")
    quantizer = GroupFiniteScalarQuantizer(**vars(model.config.quantizer))  # a few integers: built for its buffers
    buffers = {f"vector_quantizer.{k}": v for k, v in quantizer.state_dict().items()}
    checked = {}
    for key, want in expected.items():
        got = state[key]
        if got.layout != torch.strided:
            raise UserError(f"{path}: {key} is a {got.layout} tensor, where weights are dense")
        if key in buffers:
            if got.is_floating_point() or got.is_complex() or not torch.equal(got.long(), buffers[key].long()):
                raise UserError(f"{path}: {key} holds {got.flatten().tolist()[:8]} where the config's vector_quantizer "
                                f"gives {buffers[key].flatten().tolist()}")
            checked[key] = buffers[key]
        elif not got.is_floating_point():
            raise UserError(f"{path}: {key} holds {got.dtype} values, where weights are floating point")
        else:
            checked[key] = got.to(want.dtype)
            if not torch.isfinite(checked[key]).all():
                cast = f" once cast to {want.dtype}" if got.dtype != want.dtype else ""
                raise UserError(f"{path}: {key} holds NaN or infinite values{cast}; the checkpoint is damaged")
    return checked


def _check_conv_weights(model: LFSCModel, path: Path) -> None:
    """Refuse weights that are not finite: from finite tensors only weight norm can make them, when a channel's
    direction (parametrizations.weight.original1) is all zeros."""
    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)) and not torch.isfinite(module.weight).all():
            raise UserError(f"{path}: {name}.weight is not finite: its weight norm divides by a zero direction "
                            "(parametrizations.weight.original1); the checkpoint is damaged")


def fold_weight_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Replace every weight-norm parametrization by the plain weight it computes (same output, less work)."""
    from torch.nn.utils import parametrize

    for module in model.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return model


def config_to_dict(config: LFSCConfig) -> dict:
    """A NeMo-style model_config.yaml mapping for `config` (generator sections only)."""

    def section(name: str, values: Any) -> dict:
        body = {k: _plain(v) for k, v in vars(values).items()}
        if isinstance(values, MelEncoderConfig):  # its mel_processor's settings back in their own section
            processor = {k: body.pop(k) for k in MEL_PROCESSORS["MelSpectrogramProcessor"][0]}
            body["mel_processor"] = {"_target_": f"{MODULE_PATH}.MelSpectrogramProcessor", **processor}
        # the target whose arguments and implied settings (causal or not) these are, then its arguments
        target = next(t for t, (defaults, implied) in NEMO_TARGETS[name].items()
                      if all(body.get(k) == v for k, v in implied.items())
                      and all(k in defaults or k in implied for k in body))
        for key in NEMO_TARGETS[name][target][1]:
            del body[key]
        return {"_target_": f"{MODULE_PATH}.{target}", **body}

    return {
        "target": NEMO_CLASS,
        "sample_rate": config.sample_rate,
        "samples_per_frame": config.samples_per_frame,
        "audio_encoder": section("audio_encoder", config.encoder),
        "vector_quantizer": section("vector_quantizer", config.quantizer),
        "audio_decoder": section("audio_decoder", config.decoder),
    }


def _plain(value: Any) -> Any:
    """`value` with tuples, nested too, as lists: what YAML writes."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def save_nemo(
    path: str | os.PathLike, model: LFSCModel, extra_config: dict | None = None, extra_state: dict | None = None
) -> Path:
    """Write `model` as a .nemo (plain tar, NeMo's layout): its config merged into `extra_config`, its weights."""
    path = Path(path)
    if any(k.endswith(".conv.weight") for k in model.state_dict()):
        raise ValueError("save_nemo needs the weight-normed model (load it with fold_weight_norm=False)")
    config = dict(extra_config or {})
    config.update(config_to_dict(model.config))
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    state.update(extra_state or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        torch.save(state, Path(tmp) / WEIGHTS_NAME)
        (Path(tmp) / CONFIG_NAME).write_text(yaml.safe_dump(config, sort_keys=False))
        with replacing(path) as partial, tarfile.open(partial, "w:") as tar:
            for name in (CONFIG_NAME, WEIGHTS_NAME):
                tar.add(Path(tmp) / name, arcname=f"./{name}")
    return path
