"""Cached downloads: file lock, temp file + atomic rename, sha256 check, offline mode.

    path = download("https://example.org/w.safetensors", sha256="ab12...")

The cache folder is ``$HYBRIDNETS_CACHE`` (default ``~/.cache/hybridnets``); with
``HYBRIDNETS_OFFLINE=1`` nothing is fetched and a file missing from the cache is an error.
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
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from hybridnets.atomic import atomic_path

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download failed (server unreachable, HTTP error, truncated transfer)."""


class ChecksumError(DownloadError):
    """A file's sha256 differs from the expected digest."""


class OfflineError(DownloadError):
    """``HYBRIDNETS_OFFLINE`` is set and the file is not in the cache."""


def cache_dir() -> Path:
    """The cache folder: ``$HYBRIDNETS_CACHE`` or ``~/.cache/hybridnets``."""
    return Path(os.environ.get("HYBRIDNETS_CACHE") or "~/.cache/hybridnets").expanduser()


def is_offline() -> bool:
    """True when ``HYBRIDNETS_OFFLINE`` is set to anything but ``0``/``false``/empty."""
    return os.environ.get("HYBRIDNETS_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


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
    url: str, sha256: str | None = None, progress: bool = True, timeout: float = 30.0
) -> Path:
    """Return the cached copy of ``url``, downloading it first if needed.

    The transfer goes to a temporary file next to the destination, is checked against the
    server's Content-Length and ``sha256``, then renamed into place atomically, under a file
    lock so concurrent processes end with one complete file.

    Args:
        url: ``http(s)://`` address.
        sha256: Expected hex digest; a cached or downloaded file that differs is removed.
        progress: Show a tqdm progress bar on stderr.
        timeout: Socket timeout in seconds.

    Raises:
        OfflineError: ``HYBRIDNETS_OFFLINE`` is set and the file is not cached.
        ChecksumError: The downloaded file does not match ``sha256``.
        DownloadError: The server is unreachable, answers with an error, or the transfer is cut.
    """
    path = cached_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path):
        if path.exists():
            if sha256 is None or _matches(path, sha256):
                logger.debug("using cached %s for %s", path, url)
                return path
            got = file_sha256(path)
            logger.warning(
                "cached %s has sha256 %s, expected %s; re-downloading", path, got, sha256
            )
            path.unlink()
        if is_offline():
            raise OfflineError(
                f"HYBRIDNETS_OFFLINE is set and {url} is not in the cache: expected it at {path}. "
                "Copy the file there or unset HYBRIDNETS_OFFLINE."
            )
        _fetch(url, path, sha256, progress, timeout)
    return path


def _matches(path: Path, sha256: str) -> bool:
    return file_sha256(path) == sha256.lower()


def _fetch(url: str, path: Path, sha256: str | None, progress: bool, timeout: float) -> None:
    logger.info("downloading %s to %s", url, path)
    request = urllib.request.Request(url, headers={"User-Agent": "hybridnets"})
    with atomic_path(path) as tmp:  # any error below removes the temporary file
        h = hashlib.sha256()
        received, expected = 0, None
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
            except http.client.IncompleteRead as e:
                received += len(e.partial)
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                raise DownloadError(f"could not download {url}: {e}") from e
        if expected is not None and received != expected:
            raise DownloadError(
                f"truncated download of {url}: received {received} of {expected} bytes"
            )
        got = h.hexdigest()
        if sha256 is not None and got != sha256.lower():
            raise ChecksumError(
                f"sha256 mismatch for {url}: expected {sha256.lower()}, got {got}; "
                "the file was removed"
            )
