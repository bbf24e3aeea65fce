"""Choose an attention backend per call: ``triton`` → ``sdpa`` → ``reference``.

``auto`` takes the first backend whose ``supports_*`` finds no reason to refuse. A backend can be
forced per call (``backend="sdpa"``), for a block of code (``with use_backend("reference"):``)
or for the process (``HYBRIDNETS_ATTN_BACKEND=reference``); forcing one that cannot run raises
with every reason it gave.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from torch import Tensor

from hybridnets.ops.backends import Backend, ReferenceBackend, SDPABackend
from hybridnets.ops.triton_backend import TritonBackend

logger = logging.getLogger(__name__)

BACKENDS: dict[str, Backend] = {
    "triton": TritonBackend(),
    "sdpa": SDPABackend(),
    "reference": ReferenceBackend(),
}
AUTO_ORDER = ("triton", "sdpa", "reference")
ENV_VAR = "HYBRIDNETS_ATTN_BACKEND"

_forced: list[str] = []


class BackendUnavailableError(RuntimeError):
    """A forced backend cannot run these inputs; the message lists every reason."""


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Force an attention backend inside a ``with`` block: ``with use_backend("sdpa"): ...``."""
    _check_name(name)
    _forced.append(name)
    try:
        yield
    finally:
        _forced.pop()


def requested_backend(backend: str | None = None) -> str:
    """The backend in force: the argument, else the innermost ``use_backend``, else the env var."""
    name = backend or (_forced[-1] if _forced else None) or os.environ.get(ENV_VAR, "auto")
    _check_name(name)
    return name


def select_backend(op: str, q: Tensor, backend: str | None = None, **inputs) -> Backend:
    """Return the backend that will run ``op`` (``"window_attention"`` or ``"attention"``).

    Raises:
        BackendUnavailableError: a forced backend refuses these inputs.
    """
    name = requested_backend(backend)
    candidates = AUTO_ORDER if name == "auto" else (name,)
    refused = {}
    for candidate in candidates:
        impl = BACKENDS[candidate]
        reasons = getattr(impl, f"supports_{op}")(q, **inputs)
        if not reasons:
            return impl
        refused[candidate] = reasons
    detail = "; ".join(f"{b}: {', '.join(r)}" for b, r in refused.items())
    raise BackendUnavailableError(f"no attention backend can run {op} ({detail})")


def explain(op: str, q: Tensor, **inputs) -> dict[str, list[str]]:
    """Every backend's reasons to refuse ``op`` on these inputs (empty list: it can run)."""
    return {name: getattr(b, f"supports_{op}")(q, **inputs) for name, b in BACKENDS.items()}


def _check_name(name: str) -> None:
    if name != "auto" and name not in BACKENDS:
        choices = ", ".join(["auto", *BACKENDS])
        raise ValueError(f"unknown attention backend {name!r}; choose one of: {choices}")
