"""A run's output folder: checked before any training, held by one run at a time, and never
silently overwritten once finished.

check_out_dir("runs/a", folders=("best",), files=("result.json", "state.pt"))
with run_lock("runs/a"):            # a second run into runs/a is refused, naming this one's PID
    ...
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["FinishedRunError", "RunLockedError", "check_finished", "check_out_dir", "run_lock"]


class RunLockedError(RuntimeError):
    """Another live run writes into the same output folder."""


class FinishedRunError(FileExistsError):
    """The output folder holds a finished run and overwriting was not asked for."""


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
    hint = "choose another `out_dir` or move it away"
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


def _lock_path(out: Path) -> Path:
    """``runs/.a.lock`` for ``runs/a``: beside the folder, so a run refused before training
    leaves no folder behind."""
    return out.parent / f".{out.name}.lock"


@contextlib.contextmanager
def run_lock(out_dir: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out_dir`` while the block runs; the kernel releases it when
    the holder dies, so a killed run never blocks the next one (POSIX; elsewhere no lock).

    Raises:
        RunLockedError: A live process holds it (the message names its PID).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    out = Path(out_dir)
    path = _lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise RunLockedError(
                f"out_dir {str(out)!r} is in use by another run (PID {holder}); wait for it to "
                "finish, stop it, or choose another `out_dir`"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def check_finished(out_dir: str | Path, overwrite: bool, result: str = "result.json") -> None:
    """Refuse to start in a folder that holds a finished run (its ``result``) unless
    ``overwrite``.

    Raises:
        FinishedRunError: Naming the folder and the two ways on.
    """
    done = Path(out_dir) / result
    if done.is_file() and not overwrite:
        raise FinishedRunError(
            f"out_dir {str(out_dir)!r} holds a finished run ({done.name}); choose another "
            "`out_dir`, or set `overwrite=True` to train again and replace it"
        )
