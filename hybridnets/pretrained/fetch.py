"""Cached downloads: file lock, temp file + atomic rename, sha256 and content checks, offline mode.

    path = download("https://example.org/w.safetensors", sha256="ab12...", check=checkpoint_problem)

The cache folder is ``$HYBRIDNETS_CACHE`` (default ``~/.cache/hybridnets``); with
``HYBRIDNETS_OFFLINE=1`` (or, for Hugging Face Hub files, ``HF_HUB_OFFLINE=1``) nothing is
fetched and a file missing from the cache is an error. A transfer that is cut short, or whose
content fails ``check``, never enters the cache; a cached file that fails ``check`` is fetched
again; temporary files left by a killed download are removed by the next download of that file.
Standard library (and tqdm) only.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from tqdm import tqdm

from hybridnets.atomic import atomic_path

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_FALSE = ("", "0", "false", "no", "off")
# A content check: why a file is unusable, or None.
FileCheck = Callable[[Path], str | None]


class DownloadError(RuntimeError):
    """A download failed (server unreachable, HTTP error, truncated transfer)."""


class ChecksumError(DownloadError):
    """A file's sha256 differs from the expected digest."""


class OfflineError(DownloadError):
    """Offline mode is set and the file is not (or not intact) in the cache."""


def cache_dir() -> Path:
    """The cache folder: ``$HYBRIDNETS_CACHE`` or ``~/.cache/hybridnets``."""
    return Path(os.environ.get("HYBRIDNETS_CACHE") or "~/.cache/hybridnets").expanduser()


def offline_reason(hub: bool = False) -> str | None:
    """The variable that turns downloads off: ``HYBRIDNETS_OFFLINE``, or for files on the
    Hugging Face Hub (``hub``) also ``HF_HUB_OFFLINE``, when set to anything but
    ``0``/``false``/``no``/``off``/empty; else None."""
    names = ("HYBRIDNETS_OFFLINE", "HF_HUB_OFFLINE") if hub else ("HYBRIDNETS_OFFLINE",)
    return next((n for n in names if os.environ.get(n, "").strip().lower() not in _FALSE), None)


def is_offline(hub: bool = False) -> bool:
    """True when :func:`offline_reason` names a variable."""
    return offline_reason(hub) is not None


def cached_path(url: str) -> Path:
    """Where ``url`` is (or will be) cached: ``<cache>/downloads/<url hash>_<file name>``."""
    name = Path(urllib.parse.urlparse(url).path).name or "download"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return cache_dir() / "downloads" / f"{digest}_{name}"


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def file_lock(path: Path, timeout: float = 600.0) -> Iterator[None]:
    """Hold an exclusive inter-process lock on ``<path>.lock`` (``filelock`` or ``fcntl``)."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        import filelock
    except ImportError:
        filelock = None
    if filelock is not None:
        with filelock.FileLock(str(lock_path), timeout=timeout):
            yield
        return
    import fcntl  # POSIX fallback when filelock is not installed

    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def download(
    url: str,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 30.0,
    check: FileCheck | None = None,
    hub: bool = False,
) -> Path:
    """Return the cached copy of ``url``, downloading it first if needed.

    The transfer goes to a temporary file next to the destination, is checked against the
    server's Content-Length (or the end of a chunked body), ``check`` and ``sha256``, then
    renamed into place atomically, under a file lock so concurrent processes end with one
    complete file. A cached file that fails ``check`` or ``sha256`` is downloaded again.

    Args:
        url: ``http(s)://`` address.
        sha256: Expected hex digest; a cached or downloaded file that differs is removed.
        progress: Show a tqdm progress bar on stderr.
        timeout: Socket timeout in seconds.
        check: Content check (e.g. :func:`hybridnets.pretrained.filecheck.checkpoint_problem`),
            returning why a file is unusable or None.
        hub: ``url`` is on the Hugging Face Hub, so ``HF_HUB_OFFLINE`` applies too.

    Raises:
        OfflineError: Offline mode is set and the file is not cached intact.
        ChecksumError: The downloaded file does not match ``sha256``.
        DownloadError: The server is unreachable, answers with an error, the transfer is cut,
            or the file fails ``check``.
    """
    path = cached_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    offline = offline_reason(hub)
    with file_lock(path):  # held by a live process only: the kernel releases a killed holder's
        _remove_partials(path)
        if path.exists():
            problem = _cached_problem(path, sha256, check)
            if problem is None:
                logger.debug("using cached %s for %s", path, url)
                return path
            if offline:
                raise OfflineError(
                    f"{offline} is set and the cached copy of {url} is unusable: {path}: "
                    f"{problem}. Delete it (rm '{path}') and download it again without "
                    f"{offline}, or copy a good file there."
                )
            logger.warning("cached %s: %s; downloading it again", path, problem)
            path.unlink()
        if offline:
            raise OfflineError(
                f"{offline} is set and {url} is not in the cache: expected it at {path}. "
                f"Copy the file there or unset {offline}."
            )
        _fetch(url, path, sha256, progress, timeout, check)
    return path


def _remove_partials(path: Path) -> None:
    """Delete temporary files of earlier downloads of ``path`` (killed before they could clean
    up); called under the file's lock, so no live download owns them."""
    for partial in path.parent.glob(f".{path.name}.*.part{path.suffix}"):
        logger.info("removing %s, left by an interrupted download", partial)
        partial.unlink(missing_ok=True)


def _cached_problem(path: Path, sha256: str | None, check: FileCheck | None) -> str | None:
    if sha256 is not None and not _matches(path, sha256):
        return f"its sha256 is {file_sha256(path)}, expected {sha256.lower()}"
    return check(path) if check is not None else None


def _matches(path: Path, sha256: str) -> bool:
    return file_sha256(path) == sha256.lower()


def _fetch(
    url: str,
    path: Path,
    sha256: str | None,
    progress: bool,
    timeout: float,
    check: FileCheck | None,
) -> None:
    logger.info("downloading %s to %s", url, path)
    request = urllib.request.Request(url, headers={"User-Agent": "hybridnets"})
    with atomic_path(path) as tmp:  # any error below removes the temporary file
        h = hashlib.sha256()
        received, expected, cut = 0, None, False
        with open(tmp, "wb") as out:
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    length = response.headers.get("Content-Length")
                    expected = int(length) if length is not None else None
                    with tqdm(
                        total=expected,
                        unit="B",
                        unit_scale=True,
                        unit_divisor=1024,
                        desc=path.name,
                        disable=not progress,
                    ) as bar:
                        while chunk := response.read(_CHUNK):
                            out.write(chunk)
                            h.update(chunk)
                            received += len(chunk)
                            bar.update(len(chunk))
            except http.client.IncompleteRead as e:  # chunked body or Content-Length not met
                received += len(e.partial)
                cut = True
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                raise DownloadError(f"could not download {url}: {e}") from e
        if cut or (expected is not None and received != expected):
            of = f"of {expected} bytes" if expected is not None else "bytes before the body ended"
            raise DownloadError(
                f"truncated download of {url}: received {received} {of}; nothing was cached, "
                "try again"
            )
        problem = check(tmp) if check is not None else None
        if problem is not None:
            raise DownloadError(
                f"{url} did not give a usable file: {problem}. Nothing was cached; check the "
                "URL (and whether it needs a log-in), then try again"
            )
        got = h.hexdigest()
        if sha256 is not None and got != sha256.lower():
            raise ChecksumError(
                f"sha256 mismatch for {url}: expected {sha256.lower()}, got {got}; "
                "the file was removed"
            )
