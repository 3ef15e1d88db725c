"""Read and write NeMo `.nemo` checkpoints of LFSC without NeMo: a tar holding model_config.yaml and model_weights.ckpt."""

from __future__ import annotations

import os
import pickle
import re
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any

import torch
import yaml

from codec.devices import default_device
from codec.errors import UserError
from codec.files import replacing
from codec.lfsc.model import DecoderConfig, EncoderConfig, LFSCConfig, LFSCModel, QuantizerConfig

CONFIG_NAME = "model_config.yaml"
WEIGHTS_NAME = "model_weights.ckpt"
GENERATOR_PREFIXES = ("audio_encoder.", "vector_quantizer.", "audio_decoder.")
# Training-only modules whose tensors a .nemo may carry; inference ignores them.
IGNORED_PREFIXES = ("discriminator.", "mel_loss_fn.", "stft_loss_fn.")
NEMO_TARGETS = {
    "audio_encoder": "HiFiGANEncoder",
    "audio_decoder": "HiFiGANDecoder",
    "vector_quantizer": "GroupFiniteScalarQuantizer",
}
NEMO_CLASS = "nemo.collections.tts.models.audio_codec.AudioCodecModel"
MODULE_PATH = "nemo.collections.tts.modules.audio_codec_modules"


def _read_nemo(path: Path, trust: bool) -> tuple[dict, dict[str, torch.Tensor]]:
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint file")
    try:
        with tarfile.open(path, "r:*") as tar:  # NeMo writes plain tars; very old ones are gzipped
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if n not in members]
            if missing:
                raise UserError(f"{path}: not an LFSC .nemo checkpoint (missing {', '.join(missing)} in the archive)")
            config_text = tar.extractfile(members[CONFIG_NAME]).read()
            # Read the weights straight from the archive member: no temporary copy of a 600 MB file.
            state = _load_weights(tar.extractfile(members[WEIGHTS_NAME]), path, trust)
    except (tarfile.TarError, EOFError, OSError) as exc:
        reason = "not a tar archive" if isinstance(exc, tarfile.ReadError) else str(exc)
        raise UserError(f"{path}: not a readable .nemo archive ({reason}); re-download or re-export it") from None
    try:
        config = yaml.safe_load(config_text)
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: {CONFIG_NAME} is not valid YAML ({exc})") from None
    if not isinstance(config, dict):
        raise UserError(f"{path}: {CONFIG_NAME} does not hold a model configuration")
    return config, state


def _resolve(value: Any, root: dict) -> Any:
    """Resolve OmegaConf-style ${key} references to top-level keys (NeMo saves them resolved, users may not)."""
    if isinstance(value, dict):
        return {k: _resolve(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, root) for v in value]
    if isinstance(value, str):
        whole = re.fullmatch(r"\$\{([\w.]+)\}", value)
        if whole and whole.group(1) in root:
            return _resolve(root[whole.group(1)], root)
    return value


def _section(config: dict, name: str, fields: type, path: Path) -> Any:
    section = config.get(name)
    if not isinstance(section, dict):
        raise UserError(f"{path}: {CONFIG_NAME} has no '{name}' section; this is not an LFSC checkpoint")
    target = str(section.get("_target_", ""))
    if not target.endswith(NEMO_TARGETS[name]):
        raise UserError(
            f"{path}: checkpoint of another architecture ({name} is {target or 'unspecified'}, "
            f"LFSC uses {NEMO_TARGETS[name]})"
        )
    args = {k: v for k, v in section.items() if k != "_target_"}
    known = set(fields.__dataclass_fields__)
    unknown = sorted(set(args) - known)
    if unknown:
        raise UserError(f"{path}: {name} has settings this LFSC implementation does not support: {', '.join(unknown)}")
    return fields(**args)


def config_from_dict(config: dict, path: Path = Path("model_config.yaml")) -> LFSCConfig:
    """Build an LFSCConfig from a NeMo model_config.yaml mapping, rejecting other architectures."""
    config = _resolve(config, config)
    if config.get("encoder_noise_stdev"):
        raise UserError(f"{path}: encoder_noise_stdev is set; LFSC has no encoder noise")
    try:
        return LFSCConfig(
            sample_rate=int(config["sample_rate"]),
            samples_per_frame=int(config["samples_per_frame"]),
            encoder=_section(config, "audio_encoder", EncoderConfig, path),
            decoder=_section(config, "audio_decoder", DecoderConfig, path),
            quantizer=_section(config, "vector_quantizer", QuantizerConfig, path),
        )
    except KeyError as exc:
        raise UserError(f"{path}: {CONFIG_NAME} lacks {exc.args[0]!r}") from None


def _load_weights(stream: IO[bytes], path: Path, trust: bool) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(stream, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not trust:
            raise UserError(
                f"{path}: the weights need full unpickling, which can run arbitrary code; "
                "if you trust this file, pass --trust-checkpoint (trust=True)"
            ) from None
        stream.seek(0)
        obj = torch.load(stream, map_location="cpu", weights_only=False)
    except (RuntimeError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{path}: {WEIGHTS_NAME} is damaged ({str(exc).splitlines()[0]}); re-download it") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # a Lightning checkpoint
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path}: {WEIGHTS_NAME} does not hold a state dict of tensors")
    return obj


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
    shown = ", ".join(sorted(keys)[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def load_lfsc(
    path: str | os.PathLike,
    device: str | torch.device | None = None,
    trust: bool = False,
    fold_weight_norm: bool = True,
) -> LFSCModel:
    """Load an LFSC generator from a .nemo file onto `device` (CUDA when available), in eval mode."""
    path = Path(path)
    raw_config, state = _read_nemo(path, trust)
    with torch.device("meta"):  # no random init to throw away: the checkpoint's tensors become the parameters
        model = LFSCModel(config_from_dict(raw_config, path))
    state = generator_state_dict(state, path)
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
    model.load_state_dict(state, strict=True, assign=True)
    del state  # else the weight-norm tensors outlive the folding below
    if fold_weight_norm:
        fold_weight_norms(model)
    return model.to(device or default_device()).eval()


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
        body = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(values).items()}
        return {"_target_": f"{MODULE_PATH}.{NEMO_TARGETS[name]}", **body}

    return {
        "target": NEMO_CLASS,
        "sample_rate": config.sample_rate,
        "samples_per_frame": config.samples_per_frame,
        "audio_encoder": section("audio_encoder", config.encoder),
        "vector_quantizer": section("vector_quantizer", config.quantizer),
        "audio_decoder": section("audio_decoder", config.decoder),
    }


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
