"""Fixtures for the pretrained tests: an isolated cache, a local HTTP server, timm parents."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import timm
import torch
from torch import nn

from hybridnets.pretrained.io import write_state_dict


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``HYBRIDNETS_CACHE`` with offline mode off."""
    path = tmp_path / "cache"
    monkeypatch.setenv("HYBRIDNETS_CACHE", str(path))
    monkeypatch.delenv("HYBRIDNETS_OFFLINE", raising=False)
    return path


@dataclass
class Server:
    """Serves ``files`` on 127.0.0.1. Paths under ``/truncated/`` announce more bytes than sent;
    under ``/chunked/`` the body is sent chunked and cut halfway (no final chunk); under
    ``/nolength/`` it has no Content-Length and the connection closes halfway."""

    base: str
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    seconds_per_file: float = 0.0

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


def _handler(server: Server) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.requests.append(self.path)
            body = server.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            if self.path.startswith(("/chunked/", "/nolength/")):
                self._send_cut(body, chunked=self.path.startswith("/chunked/"))
                return
            self.send_response(200)
            truncated = self.path.startswith("/truncated/")
            self.send_header("Content-Length", str(len(body) + (1000 if truncated else 0)))
            self.end_headers()
            chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)] or [b""]
            for chunk in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
                time.sleep(server.seconds_per_file / len(chunks))
            self.close_connection = True

        def _send_cut(self, body: bytes, chunked: bool) -> None:
            half = body[: len(body) // 2]
            if chunked:
                self.protocol_version = "HTTP/1.1"  # chunked transfer needs HTTP/1.1
            self.send_response(200)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(half), half) if chunked else half)
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[Server]:
    """A threaded HTTP server on 127.0.0.1, shut down after the test."""
    state = Server(base="")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.timeout = 5
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def dead_url() -> str:
    """A URL on a local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/w.safetensors"


def _perturb(model: nn.Module) -> nn.Module:
    """Random weights everywhere, including norms and biases (timm inits them to 1 / 0)."""
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


@dataclass
class TimmParents:
    convnext: nn.Module
    swin: nn.Module
    convnext_file: Path
    swin_file: Path


@pytest.fixture(scope="session")
def timm_parents(tmp_path_factory: pytest.TempPathFactory) -> TimmParents:
    """Randomly initialised timm convnext_tiny and swin_tiny, saved as safetensors files."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("timm")
    convnext = _perturb(timm.create_model("convnext_tiny", pretrained=False))
    swin = _perturb(timm.create_model("swin_tiny_patch4_window7_224", pretrained=False))
    write_state_dict(convnext.state_dict(), folder / "convnext.safetensors")
    write_state_dict(swin.state_dict(), folder / "swin.safetensors")
    return TimmParents(convnext, swin, folder / "convnext.safetensors", folder / "swin.safetensors")


@pytest.fixture
def perturb():
    """``perturb(model)``: add noise to 1-D parameters so norms and biases are not trivial."""
    return _perturb


@dataclass
class Saved:
    model: nn.Module
    folder: Path


@pytest.fixture
def saved_test_model(tmp_path: Path) -> Saved:
    """A 2D RGB ``convvit_test`` with 5 classes and random weights, saved with save_pretrained."""
    import hybridnets
    from hybridnets.pretrained import save_pretrained

    model = _perturb(hybridnets.create("convvit_test", num_classes=5))
    save_pretrained(model, tmp_path / "saved")
    return Saved(model, tmp_path / "saved")


@pytest.fixture
def fast_init(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip convvit's truncated-normal init (seconds per big model on CPU) when values don't matter."""
    import hybridnets.models.convvit as convvit

    monkeypatch.setattr(convvit, "_init_weights", lambda module: None, raising=False)
