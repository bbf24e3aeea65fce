"""Downloads against a local HTTP server: cache, sha256, truncation, locks, offline mode."""

from __future__ import annotations

import hashlib
import importlib
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from hybridnets.pretrained.fetch import (
    ChecksumError,
    DownloadError,
    OfflineError,
    cached_path,
    download,
)
from hybridnets.pretrained.filecheck import checkpoint_problem
from hybridnets.pretrained.io import write_state_dict

BODY = bytes(range(256)) * 1024  # 256 KiB, several chunks
SHA = hashlib.sha256(BODY).hexdigest()
FETCH_PY = importlib.import_module("hybridnets.pretrained.fetch").__file__
ATOMIC_PY = importlib.import_module("hybridnets.atomic").__file__
# Load fetch.py and atomic.py alone (stdlib + tqdm), not the torch-importing package, so the
# processes start fast.
STANDALONE = (
    "import importlib.util, sys, types; "
    "sys.modules['hybridnets'] = types.ModuleType('hybridnets'); "
    "spec = importlib.util.spec_from_file_location('hybridnets.atomic', sys.argv[4]); "
    "atomic = importlib.util.module_from_spec(spec); "
    "sys.modules['hybridnets.atomic'] = atomic; spec.loader.exec_module(atomic); "
    "spec = importlib.util.spec_from_file_location('dl', sys.argv[3]); "
    "dl = importlib.util.module_from_spec(spec); spec.loader.exec_module(dl); "
    "print(dl.download(sys.argv[1], sha256=sys.argv[2], progress=False))"
)


def _download_process(url: str, sha256: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", STANDALONE, url, sha256, FETCH_PY, ATOMIC_PY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory) -> bytes:
    """A small valid safetensors file (several transfer chunks long)."""
    path = tmp_path_factory.mktemp("ckpt") / "w.safetensors"
    write_state_dict({"w": torch.arange(100_000, dtype=torch.float32)}, path)
    return path.read_bytes()


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
    procs = [_download_process(server.url("/w.bin"), SHA) for _ in range(2)]
    outs = [p.communicate(timeout=90) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    paths = {Path(out.strip()) for out, _ in outs}
    assert len(paths) == 1 and paths.pop().read_bytes() == BODY
    assert server.requests == ["/w.bin"] and not _leftovers(cache)


def test_chunked_transfer_cut_midway_is_not_cached(cache, server):
    server.files["/chunked/w.bin"] = BODY
    with pytest.raises(DownloadError, match=r"truncated download .* before the body ended"):
        download(server.url("/chunked/w.bin"), progress=False, timeout=5)
    assert not cached_path(server.url("/chunked/w.bin")).exists() and not _leftovers(cache)


@pytest.mark.parametrize("kind", ["nolength", "chunked"])
def test_cut_checkpoint_never_enters_the_cache(cache, server, checkpoint_bytes, kind):
    """Without a Content-Length a cut looks like the end: the content check catches it."""
    url = server.url(f"/{kind}/w.safetensors")
    server.files[f"/{kind}/w.safetensors"] = checkpoint_bytes
    with pytest.raises(DownloadError, match=r"truncated"):
        download(url, progress=False, timeout=5, check=checkpoint_problem)
    assert not cached_path(url).exists() and not _leftovers(cache)


def test_html_error_page_is_not_cached(cache, server):
    server.files["/w.pth"] = b"<!DOCTYPE html><html><head><title>Sign in</title></head></html>"
    with pytest.raises(DownloadError, match=r"did not give a usable file: it is an HTML page"):
        download(server.url("/w.pth"), progress=False, check=checkpoint_problem)
    assert not cached_path(server.url("/w.pth")).exists()


def test_corrupt_cached_checkpoint_is_downloaded_again(cache, server, checkpoint_bytes):
    server.files["/w.safetensors"] = checkpoint_bytes
    path = cached_path(server.url("/w.safetensors"))
    path.parent.mkdir(parents=True)
    path.write_bytes(checkpoint_bytes[: len(checkpoint_bytes) // 2])  # an old half file
    got = download(server.url("/w.safetensors"), progress=False, check=checkpoint_problem)
    assert got.read_bytes() == checkpoint_bytes and server.requests == ["/w.safetensors"]


def test_offline_corrupt_cache_names_the_file_and_the_fix(cache, server, monkeypatch):
    path = cached_path(server.url("/w.safetensors"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    monkeypatch.setenv("HYBRIDNETS_OFFLINE", "1")
    with pytest.raises(OfflineError, match=r"it is empty .*rm '") as info:
        download(server.url("/w.safetensors"), progress=False, check=checkpoint_problem)
    assert str(path) in str(info.value) and server.requests == []


def test_hf_hub_offline_applies_to_hub_downloads_only(cache, server, monkeypatch):
    server.files["/w.bin"] = BODY
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match=r"HF_HUB_OFFLINE is set"):
        download(server.url("/w.bin"), progress=False, hub=True)
    assert download(server.url("/w.bin"), progress=False).read_bytes() == BODY


def test_killed_download_leaves_nothing_behind_next_time(cache, server):
    server.files["/w.bin"] = BODY
    server.seconds_per_file = 30.0  # slow enough to kill it mid-transfer
    proc = _download_process(server.url("/w.bin"), SHA)
    deadline = time.monotonic() + 60
    while not _leftovers(cache) and time.monotonic() < deadline:
        time.sleep(0.05)
    partials = _leftovers(cache)
    os.kill(proc.pid, signal.SIGKILL)  # no cleanup runs: the partial file stays
    proc.communicate(timeout=30)
    assert partials and all(p.exists() for p in partials)

    server.seconds_per_file = 0.0
    start = time.monotonic()
    path = download(server.url("/w.bin"), sha256=SHA, progress=False)
    assert time.monotonic() - start < 10  # the killed holder's lock did not block
    assert path.read_bytes() == BODY and not _leftovers(cache)


def test_cached_files_get_normal_permissions(cache, server):
    server.files["/w.bin"] = BODY
    old = os.umask(0o022)
    try:
        path = download(server.url("/w.bin"), progress=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
