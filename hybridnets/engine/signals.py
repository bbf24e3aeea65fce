"""Stop cleanly when a cluster or elastic agent sends SIGTERM (or a user presses Ctrl-C once).

Inside :func:`stop_requests`, SIGTERM and SIGINT only set a flag; the training loop checks it
between steps, saves its state and exits, so a preempted run resumes where it stopped. A second
SIGINT raises ``KeyboardInterrupt`` as usual. Outside the main thread (where Python cannot
install handlers) the flag simply never rises.

    with stop_requests() as stop:
        for batch in batches:
            ...
            if stop.now(runtime):   # agreed across ranks
                save_and_exit()
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist

from hybridnets.engine.distributed import Runtime

__all__ = ["StopRequest", "TrainingStopped", "stop_requests"]

_logger = logging.getLogger(__name__)


class TrainingStopped(SystemExit):
    """Raised after a stop request was honoured and the training state saved (exit code 143,
    the shell's code for SIGTERM, so schedulers see a preempted job)."""

    def __init__(self, message: str) -> None:
        super().__init__(143)
        self.message = message

    def __str__(self) -> str:
        return self.message


class StopRequest:
    """A flag raised by SIGTERM/SIGINT; :meth:`now` agrees on it across ranks."""

    def __init__(self) -> None:
        self.requested = False
        self.signal: str | None = None

    def now(self, runtime: Runtime) -> bool:
        """Whether any rank was asked to stop (one tiny all-reduce per call under torchrun)."""
        if not runtime.distributed:
            return self.requested
        flag = torch.tensor([float(self.requested)], device=runtime.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


@contextmanager
def stop_requests() -> Iterator[StopRequest]:
    """Turn SIGTERM and a first SIGINT into a :class:`StopRequest` for the duration."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if signum == signal.SIGINT and stop.requested:
            raise KeyboardInterrupt
        stop.requested, stop.signal = True, signal.Signals(signum).name
        _logger.warning("%s: saving the training state after this step", stop.signal)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
