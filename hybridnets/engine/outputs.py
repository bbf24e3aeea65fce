"""Check, before any training, that a run's outputs can be written where it will write them.

check_out_dir("runs/a", folders=("best",), files=("result.json", "state.pt"))
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["check_out_dir"]


def check_out_dir(
    out_dir: str | Path, folders: Sequence[str] = (), files: Sequence[str] = ()
) -> Path:
    """Fail before minutes of training when the run's outputs could not be written under
    ``out_dir``: it, or a folder above it, is a file; one of ``folders`` is a file; one of
    ``files`` is a folder; or the nearest existing folder is not writable.

    Raises:
        NotADirectoryError, FileExistsError, PermissionError: Naming the path and the fix.
    """
    out = Path(out_dir)
    hint = "choose another --out (out_dir) or move it away"
    for path in (out, *out.parents):
        if not path.exists():
            continue
        if not path.is_dir():
            where = "it" if path == out else f"{path}, a folder above it,"
            raise NotADirectoryError(
                f"out_dir {str(out)!r} must be a folder, but {where} is an existing file; {hint}"
            )
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(f"out_dir {str(out)!r}: cannot write in {path}")
        break
    for name, folder in [(n, True) for n in folders] + [(n, False) for n in files]:
        path = out / name
        if path.exists() and path.is_dir() != folder:
            kind = "a file" if folder else "a folder"
            raise FileExistsError(
                f"{path} is {kind}, but the run writes {'a folder' if folder else 'a file'} "
                f"there; {hint}"
            )
    return out
