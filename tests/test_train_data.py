"""Training data: manifest parsing, weights, reproducible epochs, DDP rank slices, resume offsets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codec.errors import UserError
from train.data import CropDataset, EpochSampler, ManifestSpec, load_clips, read_manifest


def test_manifest_spec_parses_weights():
    assert ManifestSpec.parse("a/b.jsonl") == ManifestSpec(Path("a/b.jsonl"), 1.0)
    assert ManifestSpec.parse("a/b.jsonl:2.5").weight == 2.5
    assert str(ManifestSpec.parse("c:/x/y.jsonl").path) == "c:/x/y.jsonl"  # not a weight: part of the path
    with pytest.raises(UserError, match="positive"):
        ManifestSpec.parse("a.jsonl:0")


def test_read_manifest_relative_paths_durations_and_bad_lines(tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros(16000, np.float32), 16000)
    sf.write(tmp_path / "short.wav", np.zeros(1600, np.float32), 16000)
    m = tmp_path / "m.jsonl"
    m.write_text("\n".join(json.dumps(e) for e in [
        {"audio_filepath": "a.wav"}, {"audio_filepath": "short.wav"}, {"audio_filepath": "gone.wav"},
        {"audio_filepath": "listed.wav", "duration": 2.0},
    ]) + "\n")
    clips, too_short, unreadable = read_manifest(m, min_duration=0.4)
    assert [c.path.name for c in clips] == ["a.wav", "listed.wav"]
    assert clips[0].path == tmp_path / "a.wav" and clips[0].duration == pytest.approx(1.0)
    assert (too_short, unreadable) == (1, 1)
    m.write_text('{"audio_filepath": "a.wav"}\nnot json\n')
    with pytest.raises(UserError, match=r"m.jsonl:2"):
        read_manifest(m)


def test_weighted_manifests_sample_by_weight(tmp_path):
    paths = []
    for name, n in (("big", 30), ("small", 3)):
        m = tmp_path / f"{name}.jsonl"
        m.write_text("".join(json.dumps({"audio_filepath": f"{name}{i}.wav", "duration": 1.0}) + "\n" for i in range(n)))
        paths.append(m)
    clips, weights = load_clips([ManifestSpec(paths[0], 1.0), ManifestSpec(paths[1], 1.0)], 0.0)
    assert weights is None and len(clips) == 33
    clips, weights = load_clips([ManifestSpec(paths[0], 1.0), ManifestSpec(paths[1], 3.0)], 0.0)
    assert weights[:30].sum() == pytest.approx(0.25) and weights[30:].sum() == pytest.approx(0.75)
    drawn = [i for batch in EpochSampler(weights, 33, 10, seed=0, epoch=0, epoch_items=4000) for _, i in batch]
    assert np.mean(np.array(drawn) >= 30) == pytest.approx(0.75, abs=0.03)


def test_epochs_are_reproducible_and_ranks_disjoint():
    batches = lambda **kw: list(EpochSampler(None, 20, 4, seed=7, **kw))  # noqa: E731
    assert batches(epoch=3) == batches(epoch=3)
    assert batches(epoch=3) != batches(epoch=4)
    assert sorted(i for b in batches(epoch=0) for _, i in b) == list(range(20))
    r0, r1 = batches(epoch=0, rank=0, world=2), batches(epoch=0, rank=1, world=2)
    assert len(r0) == len(r1) == 2 and not {i for b in r0 for _, i in b} & {i for b in r1 for _, i in b}
    assert batches(epoch=0, start_batch=3) == batches(epoch=0)[3:]


def test_crops_depend_only_on_seed_epoch_and_index(tmp_path):
    sf.write(tmp_path / "a.wav", np.arange(30000, dtype=np.float32) / 30000, 22050)
    clips, _, _ = read_manifest(_manifest(tmp_path, "a.wav"))
    ds = CropDataset(clips, 22050, 1000, seed=1)
    assert len(ds[(0, 0)]) == 1000
    np.testing.assert_array_equal(ds[(0, 0)], ds[(0, 0)])
    assert not np.array_equal(ds[(0, 0)], ds[(1, 0)])
    assert isinstance(CropDataset([clips[0].__class__(tmp_path / "nope.wav", 1.0)], 22050, 1000, 1)[(0, 0)], str)


def _manifest(folder, name):
    m = folder / "m.jsonl"
    m.write_text(json.dumps({"audio_filepath": name}) + "\n")
    return m
