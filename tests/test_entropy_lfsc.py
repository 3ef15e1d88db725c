"""Entropy coding on real LFSC tokens (issue #22): every model round-trips the tokens of the bundled speech exactly,
lfsc+ac is its own eval row with the measured bitrate of its payload and the audio of lfsc, and priors fitted by
`lfsc-eval tokens --fit-prior` code `lfsc-codec` files that decode to the same tokens in fewer bytes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from codec.audio import load_audio
from codec.bitstream import decode_payload_file
from codec.cli import main as codec_main
from codec.entropy import decode_tokens, encode_tokens, pack, read_header, unpack
from codec.entropy_models import Prior, read_prior
from codec.registry import get_codec
from eval.cli import main as eval_main
from eval.manifest import load_manifest
from eval.run_folder import read_rows
from eval_assets import manifest_path, utterances

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "nemo" / "lfsc_small.nemo"
SIZE = 2016


@pytest.fixture(scope="module")
def codec():
    return get_codec("lfsc", checkpoint=FIXTURE, device="cpu")


def _tokens(codec, chosen) -> list[np.ndarray]:
    """Each utterance's LFSC tokens as the entropy coder takes them, [frames, codebooks]."""
    return [codec.tokens(load_audio(u.audio_path, codec.sample_rate).samples).T for u in chosen]


def _round_trips_exactly(arrays: list[np.ndarray], priors: list[Prior]) -> None:
    for model in ["adaptive", *priors]:
        prior = model if isinstance(model, Prior) else None
        for tokens in arrays:
            body = encode_tokens(tokens, SIZE, model)
            assert np.array_equal(decode_tokens(body, len(tokens), 8, SIZE, model), tokens)
            assert np.array_equal(unpack(pack(tokens, SIZE, model), prior), tokens)


def test_every_model_round_trips_real_lfsc_tokens_exactly(codec):
    arrays = _tokens(codec, utterances(count=4))
    priors = [Prior.fit(arrays[:2], kind, SIZE) for kind in ("static", "context")]  # held-out clips too
    assert len({int(t.max()) for t in arrays}) > 1 and min(int(t.min()) for t in arrays) >= 0
    _round_trips_exactly(arrays, priors)


@pytest.mark.slow
def test_every_model_round_trips_the_whole_bundled_set_exactly(codec):
    utterances(count=1)  # skips without the bundled set
    arrays = _tokens(codec, load_manifest(manifest_path()))
    priors = [Prior.fit(arrays[::2], kind, SIZE) for kind in ("static", "context")]
    _round_trips_exactly(arrays, priors)


def test_lfsc_ac_is_its_own_eval_row_with_its_measured_bitrate_and_the_same_audio(tmp_path, codec):
    chosen = utterances(count=2)
    manifest = tmp_path / "two.jsonl"
    manifest.write_text("".join(json.dumps({"audio_filepath": str(u.audio_path), "text": u.text,
                                            "duration": u.duration, "lang": u.lang}) + "\n" for u in chosen))
    out = tmp_path / "run"
    assert eval_main(["run", "--codec", "lfsc", "--codec", "lfsc+ac", "--manifest", str(manifest), "--metrics",
                      "mel_distance", "--keep-audio", "--no-cache", "--checkpoint", str(FIXTURE), "--out", str(out)]) == 0
    rows = {(r.codec, r.utt_id): r for r in read_rows(out).rows}
    assert {codec_name for codec_name, _ in rows} == {"lfsc", "lfsc+ac"}
    for utt, tokens in zip(load_manifest(manifest), _tokens(codec, chosen)):  # ids as this manifest names them
        plain, coded = rows["lfsc", utt.id], rows["lfsc+ac", utt.id]
        # the payload measured is the entropy-coded one, header included, not the fixed 88-bit frames
        assert coded.payload_bytes == len(pack(tokens, SIZE, "adaptive")) != plain.payload_bytes
        assert coded.measured_bitrate == pytest.approx(8 * coded.payload_bytes / utt.duration, abs=0.01)
        # lossless: the same decoded audio, so the same metrics
        heard = [soundfile.read(out / r.decoded_audio, dtype="float32")[0] for r in (plain, coded)]
        assert np.array_equal(heard[0], heard[1])
        # random weights: the metric may be refused (no alignment), then for the same reason in both rows
        assert (coded.metrics, coded.missing, coded.sanity) == (plain.metrics, plain.missing, plain.sanity)
        assert set(coded.metrics) | set(coded.missing) == {"mel_distance"}


def test_a_prior_fitted_by_lfsc_eval_tokens_codes_lfsc_codec_files(tmp_path, codec, capsys):
    chosen = utterances(count=3)
    manifest = tmp_path / "set.jsonl"
    manifest.write_text("".join(json.dumps({"audio_filepath": str(u.audio_path), "text": u.text,
                                            "duration": u.duration, "lang": "en"}) + "\n" for u in chosen))
    assert eval_main(["tokens", "--manifest", str(manifest), "--checkpoint", str(FIXTURE), "--fit-prior",
                      str(tmp_path / "priors"), "--out", str(tmp_path / "t")]) == 0
    clip = str(chosen[1].audio_path)  # a train clip (the first one is held out)
    common = ["--checkpoint", str(FIXTURE), "--device", "cpu"]
    fixed = tmp_path / "fixed.lfsc"
    assert codec_main(["encode", clip, str(fixed), *common]) == 0
    expected = codec.tokens(load_audio(clip, codec.sample_rate).samples).T
    for name in ("static-all.lfep", "context-all.lfep"):
        prior_file = tmp_path / "priors" / name
        coded = tmp_path / f"{name}.pay"
        assert codec_main(["encode", clip, str(coded), *common, "--entropy", f"prior:{prior_file}"]) == 0
        payload = decode_payload_file(coded.read_bytes()).payload
        prior = read_prior(prior_file.read_bytes())
        assert read_header(payload)[0].prior_sha256 == prior.sha256
        assert np.array_equal(unpack(payload, prior), expected) and coded.stat().st_size < fixed.stat().st_size
    # decoding needs the prior, and gives the audio of the fixed-size file
    assert codec_main(["decode", str(coded), str(tmp_path / "coded.wav"), *common, "--entropy", f"prior:{prior_file}"]) == 0
    assert codec_main(["decode", str(fixed), str(tmp_path / "fixed.wav"), *common]) == 0
    assert np.array_equal(soundfile.read(tmp_path / "coded.wav")[0], soundfile.read(tmp_path / "fixed.wav")[0])
