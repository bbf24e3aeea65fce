"""Run the kernels under Triton's CPU interpreter from inside an already running process.

Triton decides between compiling and interpreting when a ``@triton.jit`` function is defined, and
its own library functions (``tl.sum``, ``tl.max``, ``tl.zeros`` …) are defined when Triton is
first imported — which ``import torch``-based code often does before a test can set
``TRITON_INTERPRET``. :func:`cpu_interpreter` sets the variable and swaps those library functions
for interpreted ones while it is active, so kernel modules first imported inside it run on CPU
tensors. Used by the tests and by ``benchmarks/attention_backends.py --interpret``.

    with cpu_interpreter():
        out, lse = window_attention_fwd(q, k, v, table, rel_index, None, scale)
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import types
from collections.abc import Iterator

KERNEL_MODULES = ("hybridnets.kernels.window_attention", "hybridnets.kernels.attention")


@contextlib.contextmanager
def cpu_interpreter() -> Iterator[None]:
    """Set ``TRITON_INTERPRET=1`` and make Triton's library functions interpretable.

    Kernel modules are imported inside the context so that, if this is their first import, their
    kernels are interpreted. Kernels already compiled for CUDA in this process stay compiled.
    """
    import triton.language as tl
    from triton.runtime.interpreter import InterpretedFunction
    from triton.runtime.jit import JITFunction

    previous_env = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    owners: list[object] = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("triton.language") and isinstance(module, types.ModuleType)
    ]
    owners.append(tl.core.tensor)  # tensor methods such as x.sum()
    interpreted: dict[int, InterpretedFunction] = {}
    restore: list[tuple[object, str, object]] = []
    for owner in owners:
        for attr, value in list(vars(owner).items()):
            if isinstance(value, JITFunction):
                if id(value) not in interpreted:
                    interpreted[id(value)] = InterpretedFunction(value.fn)
                restore.append((owner, attr, value))
                setattr(owner, attr, interpreted[id(value)])
    try:
        for module in KERNEL_MODULES:
            importlib.import_module(module)
        yield
    finally:
        for owner, attr, value in reversed(restore):
            setattr(owner, attr, value)
        if previous_env is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = previous_env
