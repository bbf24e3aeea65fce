"""The one way hybridnets writes a file: to a temporary sibling, renamed into place on success.

A reader never sees a half-written checkpoint, download, result or plot: the temporary file
lives in the destination folder (so the rename is atomic on POSIX and Windows), and it is
removed if writing fails or is interrupted. Files get the permissions of any new file
(``0o666`` less the umask), not the owner-only ``0o600`` of ``mkstemp`` (or of writers that
replace the temporary file with their own, as safetensors does).

    with atomic_path("runs/a/result.json") as tmp:
        tmp.write_text(text)
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_text"]


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    The parent folder is created if needed. The temporary name keeps the destination's suffix
    (``.result.json.x1y2.part.json``) so writers that infer a format from it (matplotlib's
    ``savefig``) still work. On any exception the temporary file is deleted and ``path`` is
    left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temporary(path)
    mode = stat.S_IMODE(tmp.stat().st_mode)  # 0o666 less the umask, applied by the kernel
    try:
        yield tmp
        if stat.S_IMODE(tmp.stat().st_mode) != mode:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _create_temporary(path: Path) -> Path:
    """Create an empty, unique ``.<name>.<random>.part<suffix>`` beside ``path``.

    Like ``mkstemp`` (exclusive creation, so no other writer shares it) but with mode ``0o666``
    filtered by the umask, as ``open(path, "w")`` would give: the renamed file is readable by
    whoever could read any other file the user writes.
    """
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part{path.suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {path}")


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
