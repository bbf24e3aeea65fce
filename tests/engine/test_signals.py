"""SIGTERM and a first SIGINT become a stop request; a second SIGINT still interrupts."""

from __future__ import annotations

import subprocess
import sys

_SCRIPT = """
import os, signal
from hybridnets.engine import stop_requests
with stop_requests() as stop:
    os.kill(os.getpid(), signal.{sig})
    print(stop.requested, stop.signal)
    if "{sig}" == "SIGINT":
        try:
            os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt:
            print("second SIGINT interrupts")
print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
"""


def _run(sig: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(sig=sig)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n")


def test_sigterm_sets_the_flag_and_handlers_are_restored() -> None:
    assert _run("SIGTERM")[:2] == ["True SIGTERM", "True"]


def test_second_sigint_raises_keyboard_interrupt() -> None:
    assert _run("SIGINT")[:2] == ["True SIGINT", "second SIGINT interrupts"]
