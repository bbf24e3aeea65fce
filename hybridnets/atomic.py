"""The one way hybridnets writes a file: to a temporary sibling, renamed into place on success.

A reader never sees a half-written checkpoint, download, result or plot: the temporary file
lives in the destination folder (so the rename is atomic on POSIX and Windows), and it is
removed if writing fails or is interrupted.

    with atomic_path("runs/a/result.json") as tmp:
        tmp.write_text(text)
"""

from __future__ import annotations

import os
import tempfile
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
    fd, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=f".part{path.suffix}"
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
