"""codec/files.py: a write either lands whole or leaves the old file and no litter behind."""

import errno
import os
import re

import pytest

from codec.errors import UserError
from codec.files import check_output_file, input_file, replacing, write_text_atomic


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


def test_inputs_must_be_regular_files_and_say_what_they_are(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "link").symlink_to(tmp_path / "pipe")
    (tmp_path / "file").write_text("x")
    for path, said in [(tmp_path / "pipe", "is a FIFO (named pipe)"), (tmp_path / "link", "is a FIFO"),
                       (tmp_path, "is a folder"), ("/dev/null", "is a character device"),
                       (tmp_path / "nope", "no such file"), (tmp_path / "file" / "x", "no such file")]:
        with pytest.raises(UserError, match=re.escape(said)):
            input_file(path)
    assert input_file(tmp_path / "file") == tmp_path / "file"


def test_an_output_never_replaces_an_input_a_folder_or_a_device(tmp_path):
    source = tmp_path / "in.wav"
    source.write_text("x")
    os.link(source, tmp_path / "hard.wav")
    (tmp_path / "soft.wav").symlink_to(source)
    for path, said in [(tmp_path / "hard.wav", "would replace the input"), (tmp_path / "soft.wav", "the input"),
                       (tmp_path / "." / "in.wav", "the input"), (tmp_path, "is a folder"),
                       (source / "out.wav", "in.wav is a file, not a folder")]:
        with pytest.raises(UserError, match=re.escape(said)):
            check_output_file(path, source)
    (tmp_path / "dangling.wav").symlink_to(tmp_path / "nowhere.wav")
    check_output_file(tmp_path / "dangling.wav", source)
    check_output_file(tmp_path / "new" / "out.wav", source, tmp_path / "missing-input.wav")
    os.mkfifo(tmp_path / "pipe.wav")  # any special file: never /dev/null, which broken code would replace
    for special, said in ((tmp_path, "is a folder"), (tmp_path / "pipe.wav", "is a FIFO")):
        with pytest.raises(UserError, match=said), replacing(special):
            pass


def test_a_failed_write_names_the_output_not_the_temporary_file(tmp_path):
    target = tmp_path / "out.wav"
    with pytest.raises(OSError) as raised, replacing(target):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a write to a full disk raises it
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []
