"""Choose an attention backend per call: ``triton`` → ``sdpa`` → ``reference``.

``auto`` takes the first backend whose ``not_supported_reasons`` is empty. A backend can be
forced per call (``backend="sdpa"``), for a block of code (``with use_backend("reference"):``)
or for the process (``HYBRIDNETS_ATTN_BACKEND=reference``); forcing one that cannot run raises
with every reason it gave. ``use_backend`` keeps its stack in a :class:`contextvars.ContextVar`,
so forcing a backend in one thread or asyncio task does not change what another one runs.

Under ``torch.compile`` the choice is made while tracing and is part of the compiled graph.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator

from torch import Tensor

from hybridnets.ops.backends import Backend, ReferenceBackend, SDPABackend
from hybridnets.ops.request import REQUESTS, Reason, Request
from hybridnets.ops.triton_backend import TritonBackend

BACKENDS: dict[str, Backend] = {
    "triton": TritonBackend(),
    "sdpa": SDPABackend(),
    "reference": ReferenceBackend(),
}
AUTO_ORDER = ("triton", "sdpa", "reference")
ENV_VAR = "HYBRIDNETS_ATTN_BACKEND"

_forced: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "hybridnets_forced_attention_backend", default=()
)


class BackendUnavailableError(RuntimeError):
    """A forced backend cannot run these inputs; the message lists every reason."""


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Force an attention backend inside a ``with`` block: ``with use_backend("sdpa"): ...``."""
    _check_name(name)
    token = _forced.set((*_forced.get(), name))
    try:
        yield
    finally:
        _forced.reset(token)


def requested_backend(backend: str | None = None) -> str:
    """The backend in force: the argument, else the innermost ``use_backend``, else the env var."""
    forced = _forced.get()
    name = backend or (forced[-1] if forced else None) or os.environ.get(ENV_VAR, "auto")
    _check_name(name)
    return name


def select_backend(request: Request, backend: str | None = None) -> Backend:
    """Return the backend that will run ``request``.

    Raises:
        BackendUnavailableError: a forced backend refuses ``request`` (or, with ``auto``, every
            backend does).
    """
    name = requested_backend(backend)
    candidates = AUTO_ORDER if name == "auto" else (name,)
    refused = {}
    for candidate in candidates:
        impl = BACKENDS[candidate]
        reasons = impl.not_supported_reasons(request)
        if not reasons:
            return impl
        refused[candidate] = reasons
    detail = "; ".join(f"{b}: {', '.join(map(str, r))}" for b, r in refused.items())
    raise BackendUnavailableError(f"no attention backend can run {request.op} ({detail})")


def explain(
    request: Request | str, q: Tensor | None = None, **inputs: Tensor | None
) -> dict[str, list[Reason]]:
    """Every backend's reasons to refuse a request (empty list: it can run).

    ``explain(AttentionRequest(q, k, v))``, or with the op's name and its inputs:
    ``explain("attention", q, k=k, v=v, key_padding_mask=pad)``.
    """
    if isinstance(request, str):
        request = REQUESTS[request](q=q, **inputs)
    return {name: b.not_supported_reasons(request) for name, b in BACKENDS.items()}


def _check_name(name: str) -> None:
    if name != "auto" and name not in BACKENDS:
        choices = ", ".join(["auto", *BACKENDS])
        raise ValueError(f"unknown attention backend {name!r}; choose one of: {choices}")
