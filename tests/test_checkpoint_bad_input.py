"""Hostile and clumsy .nemo files: each is refused with one line naming the problem, in bounded time and memory,
before anything is built from it; the config reader and the archive reader never fail any other way."""

from __future__ import annotations

import copy
import gzip
import io
import math
import pickle
import struct
import tarfile
import time
import tracemalloc
import zipfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_contract import refused
from codec.errors import UserError
from codec.lfsc.checkpoint import config_from_dict, config_to_dict, load_lfsc, save_nemo
from codec.lfsc.model import DecoderConfig, EncoderConfig, LFSCConfig, LFSCModel, QuantizerConfig
from conftest import small_config
from tar_members import tar_bytes

CONFIG, WEIGHTS = "./model_config.yaml", "./model_weights.ckpt"


def tiny_config() -> LFSCConfig:
    """An LFSC of a few hundred parameters (4 samples a frame): loads in milliseconds, for the many cases here."""
    return LFSCConfig(
        sample_rate=8000, samples_per_frame=4,
        encoder=EncoderConfig(encoded_dim=2, down_sample_rates=(2, 2), base_channels=1, resblock_kernel_sizes=(3,)),
        decoder=DecoderConfig(input_dim=2, up_sample_rates=(2, 2), base_channels=4, resblock_kernel_sizes=(3,),
                              resblock_dilation_sizes=(1,)),
        quantizer=QuantizerConfig(num_groups=1, num_levels_per_group=(4, 4)),
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    """A tiny random-weight .nemo written by save_nemo, and its members' bytes by name."""
    torch.manual_seed(0)
    path = save_nemo(tmp_path_factory.mktemp("tiny") / "tiny.nemo", LFSCModel(tiny_config()))
    with tarfile.open(path) as tar:
        return path, {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def with_config(tiny, config: dict | str | bytes) -> list[tuple[str, bytes]]:
    """The tiny checkpoint's members with model_config.yaml replaced."""
    text = config if isinstance(config, (str, bytes)) else yaml.safe_dump(config, sort_keys=False)
    return [(CONFIG, text.encode() if isinstance(text, str) else text), (WEIGHTS, tiny[1][WEIGHTS])]


def with_weights(tiny, weights: object) -> list[tuple[str, bytes]]:
    """The tiny checkpoint's members with model_weights.ckpt replaced (anything but bytes is torch.save'd)."""
    if not isinstance(weights, bytes):
        buffer = io.BytesIO()
        torch.save(weights, buffer)
        weights = buffer.getvalue()
    return [(CONFIG, tiny[1][CONFIG]), (WEIGHTS, weights)]


def refusal(path: Path, trust: bool = False) -> str:
    """The one-line UserError that loading `path` gives (failing the test if it loads or fails otherwise)."""
    with pytest.raises(UserError) as caught:
        load_lfsc(path, device="cpu", trust=trust)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 600, message
    return message


def refused_file(tmp_path: Path, data: bytes, name: str = "bad.nemo") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return refusal(path)


def tiny_state(tiny) -> dict[str, torch.Tensor]:
    return torch.load(io.BytesIO(tiny[1][WEIGHTS]), weights_only=True)


def tiny_yaml(tiny) -> dict:
    return yaml.safe_load(tiny[1][CONFIG])


# -- the archive ---------------------------------------------------------------------------------------------------


def test_the_tiny_checkpoint_loads_so_each_refusal_below_is_its_one_change(tiny, tmp_path):
    path = tmp_path / "ok.nemo"
    path.write_bytes(tar_bytes(with_config(tiny, tiny[1][CONFIG])))
    assert load_lfsc(path, device="cpu").samples_per_frame == 4
    path.write_bytes(tar_bytes(with_config(tiny, tiny[1][CONFIG]), gzipped=True))
    assert load_lfsc(path, device="cpu").samples_per_frame == 4


def test_empty_file_folder_and_non_archives_are_one_line(tmp_path):
    assert "empty" in refused_file(tmp_path, b"")
    assert "is a folder" in refusal(tmp_path)
    assert "not a tar archive" in refused_file(tmp_path, b"\x00\x01 not an archive " * 50)
    assert "gzipped, but not a tar archive" in refused_file(tmp_path, gzip.compress(b"hello " * 500))
    assert "not a readable .nemo archive" in refused_file(tmp_path, b"\x1f\x8b" + bytes(range(256)) * 4)


@pytest.mark.parametrize("member", [CONFIG, WEIGHTS])
@pytest.mark.parametrize("where", ["in its header", "in its data"])
def test_archives_truncated_mid_member_are_one_line(tiny, tmp_path, member, where):
    whole = tar_bytes(with_config(tiny, tiny[1][CONFIG]))
    with tarfile.open(fileobj=io.BytesIO(whole)) as tar:
        info = tar.getmember(member)
    end = info.offset + 100 if where == "in its header" else info.offset_data + info.size // 2
    refused_file(tmp_path, whole[:end])
    refused_file(tmp_path, gzip.compress(whole[:end]))


@pytest.mark.parametrize("keep", [0.1, 0.5])
def test_truncated_gzip_streams_are_one_line(tiny, tmp_path, keep):
    whole = tar_bytes(with_config(tiny, tiny[1][CONFIG]), gzipped=True)
    refused_file(tmp_path, whole[: int(len(whole) * keep)])


def test_a_3_gib_config_in_a_3_mb_gzip_is_refused_from_its_header_in_a_moment(tmp_path):
    header = tarfile.TarInfo(CONFIG)
    header.size = 3 << 30
    mib_of_zeros = gzip.compress(bytes(1 << 20), compresslevel=9)  # about 1 KB; gzip members may follow each other
    path = tmp_path / "bomb.nemo"
    with open(path, "wb") as f:
        f.write(gzip.compress(header.tobuf(tarfile.GNU_FORMAT)))
        for _ in range(3 << 10):
            f.write(mib_of_zeros)
    assert path.stat().st_size < 5 << 20
    tracemalloc.start()
    start = time.perf_counter()
    message = refusal(path)
    elapsed, peak = time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "model_config.yaml is 3221225472 bytes" in message
    assert elapsed < 1 and peak < 16 << 20, (elapsed, peak)


def test_a_weights_member_claiming_more_than_4_gib_is_refused_from_its_header(tiny, tmp_path):
    config = tiny[1][CONFIG] + bytes(-len(tiny[1][CONFIG]) % 512)
    # The 5 GiB are not there: only the header's claim can refuse it.
    data = raw_header(CONFIG, tarfile.REGTYPE, len(tiny[1][CONFIG])) + config + raw_header(WEIGHTS, tarfile.REGTYPE,
                                                                                            5 << 30)
    assert "holds more than 4 GiB (at './model_weights.ckpt', of 5368709120 bytes)" in refused_file(tmp_path, data)


def link(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, "/etc/passwd"
    return info


@pytest.mark.parametrize("kind, said", [(tarfile.SYMTYPE, "a symbolic link"), (tarfile.LNKTYPE, "a hard link"),
                                        (tarfile.CHRTYPE, "a device"), (tarfile.FIFOTYPE, "a FIFO")])
def test_links_devices_and_fifos_are_refused(tiny, tmp_path, kind, said):
    message = refused_file(tmp_path, tar_bytes([(CONFIG, tiny[1][CONFIG]), (link(WEIGHTS, kind), b"")]))
    assert said in message and "model_weights.ckpt" in message


def test_paths_outside_the_archive_are_refused_and_nothing_is_written(tiny, tmp_path):
    (tmp_path / "in").mkdir()
    members = [("../../model_config.yaml", tiny[1][CONFIG]), (WEIGHTS, tiny[1][WEIGHTS])]
    assert "outside the archive" in refused_file(tmp_path / "in", tar_bytes(members))
    members = [("/tmp/model_config.yaml", tiny[1][CONFIG]), (WEIGHTS, tiny[1][WEIGHTS])]
    assert "outside the archive" in refused_file(tmp_path / "in", tar_bytes(members))
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["bad.nemo", "in"]


def test_duplicate_folder_and_missing_members_are_named(tiny, tmp_path):
    twice = with_config(tiny, tiny[1][CONFIG]) + [("sub/model_config.yaml", b"{}")]
    assert "a second model_config.yaml" in refused_file(tmp_path, tar_bytes(twice))
    folder = tarfile.TarInfo("model_weights.ckpt")
    folder.type = tarfile.DIRTYPE
    assert "a folder named model_weights.ckpt" in refused_file(
        tmp_path, tar_bytes([(CONFIG, tiny[1][CONFIG]), (folder, b"")]))
    assert "missing model_weights.ckpt" in refused_file(tmp_path, tar_bytes([(CONFIG, tiny[1][CONFIG])]))


def test_too_many_members_are_refused(tiny, tmp_path):
    members = [(f"./notes/{i}.txt", b"x") for i in range(100)] + with_config(tiny, tiny[1][CONFIG])
    assert "more than 64 members" in refused_file(tmp_path, tar_bytes(members))


def raw_header(name: str, kind: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    return info.tobuf(tarfile.GNU_FORMAT)


def test_extension_headers_that_would_be_read_without_bound_are_refused(tiny, tmp_path):
    # A pax header claiming 1 GiB: tarfile reads a pax header whole before it hands out the member.
    data = raw_header("pax", tarfile.XHDTYPE, 1 << 30) + bytes(8192)
    assert "extension headers" in refused_file(tmp_path, data)
    # 2000 GNU long-name headers in a row: tarfile reads the header after each one recursively.
    long_name = raw_header("././@LongLink", tarfile.GNUTYPE_LONGNAME, 100) + b"x" * 100 + bytes(412)
    assert "extension headers" in refused_file(tmp_path, gzip.compress(long_name * 2000 + tar_bytes(
        with_config(tiny, tiny[1][CONFIG]))))
    # An old GNU sparse member: tarfile gathers its map block after block.
    assert "a sparse file" in refused_file(tmp_path, raw_header(WEIGHTS, tarfile.GNUTYPE_SPARSE, 10) + bytes(4096))


# -- model_config.yaml ---------------------------------------------------------------------------------------------


def test_a_yaml_alias_bomb_is_refused_at_once(tiny, tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(20))
    start = time.perf_counter()
    assert "aliases" in refused_file(tmp_path, tar_bytes(with_config(tiny, bomb)))
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("text, said", [
    ("[" * 100_000, "nested more than"),
    ("a: [1, 2\nb: }", "not valid YAML"),
    (b"\xff\xfe\x00bad", "not"),
    ("- just\n- a list\n", "does not hold a model configuration"),
    ("", "does not hold a model configuration"),
])
def test_config_that_is_no_mapping_is_refused(tiny, tmp_path, text, said):
    assert said in refused_file(tmp_path, tar_bytes(with_config(tiny, text)))


def test_references_that_never_end_are_refused(tiny, tmp_path):
    config = tiny_yaml(tiny)
    config.update(a="${b}", b="${a}")
    config["audio_encoder"]["base_channels"] = "${a}"
    assert "never ends (a -> b -> a)" in refused_file(tmp_path, tar_bytes(with_config(tiny, config)))
    config = tiny_yaml(tiny)
    config.update(rate=8000, sample_rate="${rate}")  # a reference that ends is followed, as OmegaConf would
    path = tmp_path / "ok.nemo"
    path.write_bytes(tar_bytes(with_config(tiny, config)))
    assert load_lfsc(path, device="cpu").sample_rate == 8000


@pytest.mark.parametrize("section, key, value, said", [
    ("audio_encoder", "base_channels", -4, "audio_encoder.base_channels must be an integer from 1 to 4096, got -4"),
    ("audio_encoder", "base_channels", "48", "audio_encoder.base_channels must be an integer"),
    ("audio_encoder", "base_channels", 48.0, "audio_encoder.base_channels must be an integer"),
    ("audio_encoder", "base_channels", True, "audio_encoder.base_channels must be an integer"),
    ("audio_decoder", "base_channels", 10**6, "audio_decoder.base_channels must be an integer from 1 to 8192"),
    ("audio_encoder", "base_channels", 4096, "doubled at each of its 2 stages gives 16384 channels"),
    ("audio_decoder", "base_channels", 2, "audio_decoder.base_channels must be at least 2^2 = 4"),
    (None, "sample_rate", 0, "sample_rate must be an integer from 1000"),
    (None, "samples_per_frame", 8, "down_sample_rates must multiply to samples_per_frame (8), got [2, 2]"),
    ("audio_encoder", "activation", "gelu", "audio_encoder.activation must be one of 'lrelu', 'elu', 'half_snake', got 'gelu'"),
    ("audio_decoder", "output_activation", "relu", "audio_decoder.output_activation must be one of 'tanh'"),
    ("audio_encoder", "down_sample_rates", [0, 4], "down_sample_rates must be a list of 1 to 12 integers from 2"),
    ("audio_encoder", "down_sample_rates", [-2, -2], "down_sample_rates must be a list"),
    ("audio_encoder", "down_sample_rates", 4, "down_sample_rates must be a list"),
    ("audio_encoder", "down_sample_rates", [4, 1], "down_sample_rates must be a list"),
    ("audio_decoder", "up_sample_rates", [8], "up_sample_rates must multiply to samples_per_frame (4), got [8]"),
    ("audio_decoder", "in_kernel_size", 4, "audio_decoder.in_kernel_size must be an odd integer"),
    ("audio_decoder", "in_kernel_size", 9, "audio_decoder.in_kernel_size too large"),
    ("audio_encoder", "resblock_dilation_sizes", [1, 9], "audio_encoder.resblock_kernel_sizes/resblock_dilation"),
    ("audio_encoder", "resblock_kernel_sizes", [], "resblock_kernel_sizes must be a list of 1 to 5"),
    ("audio_encoder", "pad_mode", "circular", "audio_encoder.pad_mode must be one of 'reflect', 'replicate', 'zeros'"),
    ("vector_quantizer", "eps", float("nan"), "vector_quantizer.eps must be a number from 0 to 0.5, got nan"),
    ("vector_quantizer", "num_levels_per_group", [1, 16], "num_levels_per_group must be a list of 1 to 8 integers"),
    ("vector_quantizer", "num_groups", 2, "audio_encoder.encoded_dim must equal vector_quantizer.num_groups"),
    ("vector_quantizer", "num_levels_per_group", [255] * 4, "more than 65536"),
    ("audio_encoder", 7, 1, "audio_encoder (HiFiGANEncoder) has arguments this loader does not support: [7]"),
    ("audio_encoder", "_target_", 7, "another architecture (audio_encoder is 7"),
    (None, "audio_decoder", [1, 2], "has no 'audio_decoder' section"),
    (None, "encoder_noise_stdev", 0.1, "encoder_noise_stdev is set"),
])
def test_bad_config_values_are_named_before_anything_is_built(tiny, tmp_path, monkeypatch, section, key, value, said):
    config = tiny_yaml(tiny)
    (config if section is None else config[section])[key] = value
    monkeypatch.setattr(LFSCModel, "__init__", lambda *a, **k: pytest.fail("a model was built from a bad config"))
    message = refused_file(tmp_path, tar_bytes(with_config(tiny, config)))
    assert "bad.nemo: model_config.yaml: " in message
    assert said in message, message


def test_a_missing_top_level_value_is_named(tiny, tmp_path):
    config = tiny_yaml(tiny)
    del config["samples_per_frame"]
    assert "lacks 'samples_per_frame'" in refused_file(tmp_path, tar_bytes(with_config(tiny, config)))


# -- model_weights.ckpt --------------------------------------------------------------------------------------------


def test_random_bytes_are_not_a_weights_file_and_get_no_trust_advice(tiny, tmp_path):
    for junk in (bytes(range(256)) * 40, b"", b"\x80\x02garbage" * 10):
        message = refused_file(tmp_path, tar_bytes(with_weights(tiny, junk)))
        assert "not a PyTorch weights file" in message and "trust" not in message


def test_a_damaged_zip_or_pickle_is_damaged_not_untrusted(tiny, tmp_path):
    weights = tiny[1][WEIGHTS]
    for junk in (b"PK\x03\x04" + bytes(range(256)) * 8, weights[: len(weights) // 2]):
        message = refused_file(tmp_path, tar_bytes(with_weights(tiny, junk)))
        assert "damaged" in message and "trust" not in message
    # A torch.save zip whose object pickle is garbage: a real zip, but no pickle that needs trust.
    source, damaged = zipfile.ZipFile(io.BytesIO(weights)), io.BytesIO()
    with zipfile.ZipFile(damaged, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            out.writestr(info, b"\x80\x02\xff\xfe garbage" if info.filename.endswith("/data.pkl") else data)
    message = refused_file(tmp_path, tar_bytes(with_weights(tiny, damaged.getvalue())))
    assert "damaged" in message and "trust" not in message


def legacy_header() -> bytes:
    """The first three pickles of torch.save's legacy format: magic number, protocol version, system info."""
    return b"".join(pickle.dumps(v, protocol=2) for v in (torch.serialization.MAGIC_NUMBER, 1001, {}))


@pytest.mark.parametrize("trust", [False, True])
def test_lengths_and_memo_indices_a_damaged_pickle_claims_are_not_allocated(tiny, tmp_path, trust):
    # A string claiming 2**62 bytes; a memo index of 2**24, which Python's unpickler would size its memo by.
    huge_string = legacy_header() + b"\x80\x04\x8d" + struct.pack("<Q", 1 << 62) + b"x."
    memo_index = legacy_header() + b"\x80\x02cargparse\nNamespace\nr" + struct.pack("<I", 1 << 24) + b")\x81." + \
        pickle.dumps([], protocol=2)
    for weights in (huge_string, memo_index):
        path = tmp_path / "bad.nemo"
        path.write_bytes(tar_bytes(with_weights(tiny, weights)))
        tracemalloc.start()
        message = refusal(path, trust=trust)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert "model_weights.ckpt is damaged" in message and peak < 64 << 20, (message, peak)


def test_compressed_zip_records_are_refused_before_pytorch_allocates_them(tiny, tmp_path):
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("archive/data.pkl", b"x")
        out.writestr("archive/data/0", bytes(64 << 20))  # 64 MiB claimed in 64 KB
    assert "compressed records" in refused_file(tmp_path, tar_bytes(with_weights(tiny, bomb.getvalue())))


def test_a_legacy_pickle_that_needs_trust_gets_the_advice_and_loads_with_it(tiny, tmp_path):
    import argparse

    buffer = io.BytesIO()
    torch.save({"state_dict": tiny_state(tiny), "hparams": argparse.Namespace(lr=1)}, buffer,
               _use_new_zipfile_serialization=False)
    path = tmp_path / "legacy.nemo"
    path.write_bytes(tar_bytes(with_weights(tiny, buffer.getvalue())))
    assert "--trust-checkpoint" in refusal(path)
    assert load_lfsc(path, device="cpu", trust=True).samples_per_frame == 4


@pytest.mark.parametrize("weights, said", [
    ([1, 2, 3], "does not hold a state dict of named tensors"),
    ({1: torch.ones(1)}, "does not hold a state dict of named tensors"),
    ({"audio_encoder.pre_conv.conv.bias": "x"}, "does not hold a state dict of named tensors"),
    ({}, "missing"),
])
def test_weights_that_are_no_state_dict_are_refused(tiny, tmp_path, weights, said):
    assert said in refused_file(tmp_path, tar_bytes(with_weights(tiny, weights)))


KEY = "audio_encoder.pre_conv.conv.parametrizations.weight.original1"


@pytest.mark.parametrize("change, said", [
    (lambda t: t.fill_(float("nan")), f"{KEY} holds NaN or infinite values"),
    (lambda t: t.fill_(float("inf")), f"{KEY} holds NaN or infinite values"),
    (lambda t: t.double().fill_(1e300), f"{KEY} holds NaN or infinite values once cast to torch.float32"),
    (lambda t: t.long(), f"{KEY} holds torch.int64 values, where weights are floating point"),
    (lambda t: t.to(torch.complex64), f"{KEY} holds torch.complex64 values"),
    (lambda t: t.to_sparse(), f"{KEY} is a torch.sparse_coo tensor"),
    (lambda t: t[..., :1], f"weight shapes do not match the config: {KEY}"),
    (lambda t: torch.zeros_like(t), "audio_encoder.pre_conv.conv.weight is not finite: its weight norm divides"),
])
def test_bad_weights_are_named(tiny, tmp_path, change, said):
    state = tiny_state(tiny)
    state[KEY] = change(state[KEY].clone())
    assert said in refused_file(tmp_path, tar_bytes(with_weights(tiny, state)))


def test_quantizer_buffers_must_be_what_the_config_gives(tiny, tmp_path):
    state = tiny_state(tiny)
    state["vector_quantizer.fsqs.0.num_levels"] = torch.tensor([0, 4], dtype=torch.int32)[None, :, None]
    assert "vector_quantizer.fsqs.0.num_levels holds [0, 4] where the config's vector_quantizer gives [4, 4]" in \
        refused_file(tmp_path, tar_bytes(with_weights(tiny, state)))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_other_float_precisions_are_cast_to_float32(tiny, tmp_path, dtype):
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tiny_state(tiny).items()}
    path = tmp_path / "cast.nemo"
    path.write_bytes(tar_bytes(with_weights(tiny, state)))
    model = load_lfsc(path, device="cpu", fold_weight_norm=False)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    expected = {k: v.float() for k, v in state.items() if v.is_floating_point()}
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())


# -- end to end: lfsc-codec refuses in one line, writes nothing ---------------------------------------------------


@pytest.fixture(scope="module")
def wav(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "in.wav"
    sf.write(path, (0.1 * np.sin(np.arange(8000) / 5)).astype(np.float32), 16000)
    return path


@pytest.mark.parametrize("case, said", [
    ("random", "not a readable .nemo archive"),
    ("bomb", "model_config.yaml is 3221225472 bytes"),
    ("aliases", "aliases"),
    ("value", "audio_encoder.base_channels must be an integer from 1 to 4096, got -4"),
    ("weights", "not a PyTorch weights file"),
    ("folder", "is a folder"),
])
def test_lfsc_codec_refuses_bad_checkpoints_in_one_line(small_nemo, wav, tmp_path, case, said):
    with tarfile.open(small_nemo) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    config = yaml.safe_load(members[CONFIG])
    config["audio_encoder"]["base_channels"] = -4
    bad = tmp_path / "work" / "bad.nemo"
    bad.parent.mkdir()
    if case == "folder":
        bad.mkdir()
    else:
        header = tarfile.TarInfo(CONFIG)
        header.size = 3 << 30
        bad.write_bytes({
            "random": bytes(range(256)) * 64,
            "bomb": gzip.compress(header.tobuf(tarfile.GNU_FORMAT)) + gzip.compress(bytes(1 << 20)) * 64,
            "aliases": tar_bytes([(CONFIG, b"a: &a [1, 1]\nb: [*a, *a]\n"), (WEIGHTS, members[WEIGHTS])]),
            "value": tar_bytes([(CONFIG, yaml.safe_dump(config).encode()), (WEIGHTS, members[WEIGHTS])]),
            "weights": tar_bytes([(CONFIG, members[CONFIG]), (WEIGHTS, bytes(range(256)) * 64)]),
        }[case])
    line = refused("lfsc-codec", "roundtrip", wav, tmp_path / "work" / "out.wav", "--checkpoint", bad,
                   "--device", "cpu", watch=[tmp_path, wav.parent])
    assert said in line, line


# -- properties ----------------------------------------------------------------------------------------------------

VALID = config_to_dict(tiny_config())
SECTION_FIELDS = {
    "audio_encoder": EncoderConfig, "audio_decoder": DecoderConfig, "vector_quantizer": QuantizerConfig,
}
PLACES = [(None, key) for key in ("sample_rate", "samples_per_frame", "encoder_noise_stdev", "audio_encoder",
                                  "vector_quantizer", "ref", "loop")] + [
    (section, key) for section, cls in SECTION_FIELDS.items() for key in [f.name for f in fields(cls)] + ["_target_", 3]
]
SCALARS = (st.none() | st.booleans() | st.integers(-3, 70) | st.integers() | st.integers(-10**40, 10**40)
           | st.floats() | st.text(max_size=12) | st.sampled_from(["${ref}", "${loop}", "${sample_rate}", "lrelu"]))
YAML_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(st.text(max_size=6) | st.integers(), inner, max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PLACES), YAML_VALUES), min_size=1, max_size=4))
def test_the_config_reader_returns_a_buildable_config_or_refuses(changes):
    config = copy.deepcopy(VALID)
    config.update(ref=4, loop="${loop}")
    for (section, key), value in changes:
        target = config if section is None else config.get(section)
        if isinstance(target, dict):
            target[key] = value
    try:
        result = config_from_dict(config)
    except UserError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600
        return
    assert isinstance(result, LFSCConfig)
    with torch.device("meta"):  # whatever the reader accepts builds, without allocating
        LFSCModel(result)
    assert math.prod(result.encoder.down_sample_rates) == result.samples_per_frame


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=4096) | st.binary(max_size=4096).map(gzip.compress)
       | st.binary(max_size=2048).map(lambda b: tarfile.TarInfo("model_config.yaml").tobuf() + b))
def test_random_bytes_as_a_nemo_are_refused(tmp_path, data):
    path = tmp_path / "random.nemo"
    path.write_bytes(data)
    refusal(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.booleans(), st.data())
def test_a_damaged_checkpoint_loads_or_is_refused(tiny, tmp_path, gzipped, draw):
    data = bytearray(tar_bytes(with_config(tiny, tiny[1][CONFIG]), gzipped))
    if draw.draw(st.booleans(), "truncate"):
        del data[draw.draw(st.integers(0, len(data) - 1), "at"):]
    else:
        for at in draw.draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8), "flip"):
            data[at] ^= draw.draw(st.integers(1, 255))
    path = tmp_path / "damaged.nemo"
    path.write_bytes(bytes(data))
    try:
        model = load_lfsc(path, device="cpu")
    except UserError as exc:
        assert "\n" not in str(exc)
    else:
        assert all(torch.isfinite(p).all() for p in model.parameters())


def test_the_small_fixture_config_still_reads(small_nemo):
    with tarfile.open(small_nemo) as tar:
        config = yaml.safe_load(tar.extractfile(CONFIG).read())
    assert config_from_dict(config) == small_config()


# -- the user config that names the checkpoint --------------------------------------------------------------------


def test_the_user_config_is_read_bounded_and_its_checkpoint_must_be_a_path(tmp_path):
    from codec.config import resolve_checkpoint, user_config_path

    config = user_config_path()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("a: &a [1, 1]\nb: [*a, *a]\ncheckpoint: x.nemo\n")
    with pytest.raises(UserError, match="aliases"):
        resolve_checkpoint()
    assert resolve_checkpoint(tmp_path / "given.nemo") == tmp_path / "given.nemo"  # a broken file unused is no error
    config.write_text("checkpoint: [1, 2]\n")
    with pytest.raises(UserError, match="'checkpoint' must be the path of a .nemo file, got \\[1, 2\\]"):
        resolve_checkpoint()
    config.write_text(f"checkpoint: {tmp_path / 'm.nemo'}\n")
    assert resolve_checkpoint() == tmp_path / "m.nemo"
