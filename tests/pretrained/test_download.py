"""Downloads against a local HTTP server: cache, sha256, truncation, locks, offline mode."""

from __future__ import annotations

import hashlib
import importlib
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hybridnets.pretrained.download import (
    ChecksumError,
    DownloadError,
    OfflineError,
    cached_path,
    download,
)

BODY = bytes(range(256)) * 1024  # 256 KiB, several chunks
SHA = hashlib.sha256(BODY).hexdigest()
DOWNLOAD_PY = importlib.import_module("hybridnets.pretrained.download").__file__
ATOMIC_PY = importlib.import_module("hybridnets.atomic").__file__


def _leftovers(cache: Path) -> list[Path]:
    """Temporary files of an atomic write (``.<name>.<random>.part<suffix>``)."""
    return [p for p in cache.rglob("*") if ".part" in p.name]


def test_good_file_is_cached_and_reused(cache, server):
    server.files["/w.bin"] = BODY
    path = download(server.url("/w.bin"), sha256=SHA, progress=False)
    assert path.read_bytes() == BODY and path.is_relative_to(cache)
    assert download(server.url("/w.bin"), sha256=SHA, progress=False) == path
    assert server.requests == ["/w.bin"]  # second call served from the cache
    assert not _leftovers(cache)


def test_wrong_sha256_removes_file_and_names_digests(cache, server):
    server.files["/w.bin"] = BODY
    with pytest.raises(ChecksumError, match=f"expected {'0' * 64}, got {SHA}"):
        download(server.url("/w.bin"), sha256="0" * 64, progress=False)
    assert not cached_path(server.url("/w.bin")).exists() and not _leftovers(cache)


def test_corrupted_cache_is_downloaded_again(cache, server):
    server.files["/w.bin"] = BODY
    path = cached_path(server.url("/w.bin"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage")
    assert download(server.url("/w.bin"), sha256=SHA, progress=False).read_bytes() == BODY


def test_truncated_transfer_is_detected(cache, server):
    server.files["/truncated/w.bin"] = BODY
    with pytest.raises(
        DownloadError, match=r"truncated download .* received 262144 of 263144 bytes"
    ):
        download(server.url("/truncated/w.bin"), progress=False, timeout=5)
    assert not cached_path(server.url("/truncated/w.bin")).exists() and not _leftovers(cache)


def test_server_down_names_url(cache, dead_url):
    with pytest.raises(DownloadError, match=dead_url):
        download(dead_url, progress=False, timeout=5)


def test_http_error_names_url(cache, server):
    with pytest.raises(DownloadError, match=r"404"):
        download(server.url("/missing.bin"), progress=False)


def test_offline_without_cache_names_url_and_path(cache, server, monkeypatch):
    monkeypatch.setenv("HYBRIDNETS_OFFLINE", "1")
    url = server.url("/w.bin")
    with pytest.raises(OfflineError) as info:
        download(url, progress=False)
    assert url in str(info.value) and str(cached_path(url)) in str(info.value)
    assert server.requests == []


def test_offline_uses_cached_file(cache, server, monkeypatch):
    server.files["/w.bin"] = BODY
    path = download(server.url("/w.bin"), progress=False)
    monkeypatch.setenv("HYBRIDNETS_OFFLINE", "1")
    assert download(server.url("/w.bin"), sha256=SHA, progress=False) == path


def test_concurrent_threads_download_once(cache, server):
    server.files["/w.bin"] = BODY
    server.seconds_per_file = 0.5
    barrier, paths, errors = threading.Barrier(2), [], []

    def worker() -> None:
        barrier.wait()
        try:
            paths.append(download(server.url("/w.bin"), sha256=SHA, progress=False))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors and len(paths) == 2 and paths[0] == paths[1]
    assert paths[0].read_bytes() == BODY
    assert server.requests == ["/w.bin"]  # the second waited on the lock, then used the file
    assert not _leftovers(cache)


def test_concurrent_processes_end_with_one_complete_file(cache, server):
    server.files["/w.bin"] = BODY
    server.seconds_per_file = 1.0
    # Load download.py and atomic.py alone (stdlib + tqdm), not the torch-importing package,
    # so the processes start fast and overlap.
    code = (
        "import importlib.util, sys, types; "
        "sys.modules['hybridnets'] = types.ModuleType('hybridnets'); "
        "spec = importlib.util.spec_from_file_location('hybridnets.atomic', sys.argv[4]); "
        "atomic = importlib.util.module_from_spec(spec); "
        "sys.modules['hybridnets.atomic'] = atomic; spec.loader.exec_module(atomic); "
        "spec = importlib.util.spec_from_file_location('dl', sys.argv[3]); "
        "dl = importlib.util.module_from_spec(spec); spec.loader.exec_module(dl); "
        "print(dl.download(sys.argv[1], sha256=sys.argv[2], progress=False))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, server.url("/w.bin"), SHA, DOWNLOAD_PY, ATOMIC_PY],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=90) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    paths = {Path(out.strip()) for out, _ in outs}
    assert len(paths) == 1 and paths.pop().read_bytes() == BODY
    assert server.requests == ["/w.bin"] and not _leftovers(cache)
