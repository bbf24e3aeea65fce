import os
import stat

import pytest

from hybridnets.atomic import atomic_path, atomic_write_text


def test_atomic_write_text_creates_parents_and_leaves_no_temp(tmp_path):
    path = atomic_write_text(tmp_path / "a" / "b.json", "{}\n")
    assert path.read_text() == "{}\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["b.json"]


def test_failed_write_keeps_old_file_and_removes_temp(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_temp_keeps_suffix_for_format_inference(tmp_path):
    with atomic_path(tmp_path / "plot.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path
        tmp.write_bytes(b"x")
    assert (tmp_path / "plot.png").read_bytes() == b"x"


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_get_the_permissions_of_any_new_file(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "result.json", "{}")
        with atomic_path(tmp_path / "w.bin") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    for p in (path, tmp_path / "w.bin"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask
