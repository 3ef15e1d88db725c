"""codec/files.py: a write either lands whole or leaves the old file and no litter behind."""

import pytest

from codec.files import replacing, write_text_atomic


def test_replacing_renames_the_finished_file_over_the_target(tmp_path):
    target = tmp_path / "sub" / "report.json"
    with replacing(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".json" and tmp != target
        tmp.write_text("new")
        assert not target.exists()  # nothing is visible under the real name before the block ends
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "state.pt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), replacing(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]


def test_files_get_the_usual_permissions(tmp_path):
    write_text_atomic(tmp_path / "a.txt", "x")
    (tmp_path / "b.txt").write_text("x")
    assert (tmp_path / "a.txt").stat().st_mode == (tmp_path / "b.txt").stat().st_mode


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "private.txt"
    write_text_atomic(target, "old")
    target.chmod(0o600)
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o600


def test_a_symbolic_link_stays_a_link_and_its_target_is_replaced(tmp_path):
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "config.yaml"
    target.write_text("old")
    link = tmp_path / "config.yaml"
    link.symlink_to(target)
    write_text_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert [p.name for p in (tmp_path / "store").iterdir()] == ["config.yaml"]
