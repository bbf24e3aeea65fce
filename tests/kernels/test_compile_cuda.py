"""The kernels compile for an H100 (sm_90) without a GPU: catches what the interpreter misses.

The interpreter runs kernels as Python, so type, scoping and constexpr errors of the real
compiler only show on a GPU. ``triton.compile`` with an explicit target runs the whole pipeline
(Triton IR → PTX → cubin through the bundled ``ptxas``) on CPU. It runs in a subprocess because
the test process imports the kernels interpreted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import inspect
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.runtime.jit import JITFunction
    from hybridnets.kernels import _launch, attention, window_attention

    POINTERS = {"Q": "*fp16", "K": "*fp16", "V": "*fp16", "Out": "*fp16", "DO": "*fp16",
                "DQ": "*fp16", "DK": "*fp16", "DV": "*fp16", "Table": "*fp32", "Rel": "*i32",
                "Region": "*i32", "Lse": "*fp32", "Delta": "*fp32", "DTable": "*fp32",
                "Bias": "*fp32", "KPM": "*u8", "DBias": "*fp32"}
    FLOATS = {"scale", "qk_scale"}

    def build(kernel, constexprs, config):
        while not isinstance(kernel, JITFunction):  # unwrap autotune / heuristics
            kernel = kernel.fn
        constexprs = {**constexprs, **config.kwargs, "BLOCK_D": 32, "PRECISION": "tf32"}
        signature = {}
        for name in inspect.signature(kernel.fn).parameters:
            if name in constexprs:
                signature[name] = "constexpr"
            else:
                signature[name] = POINTERS.get(name, "fp32" if name in FLOATS else "i32")
        options = {"num_warps": config.num_warps, "num_stages": config.num_stages}
        triton.compile(ASTSource(kernel, signature, constexprs), GPUTarget("cuda", 90, 32), options)

    # Every kernel with its default tile; the window kernels also with the largest candidate.
    fwd = (_launch.FORWARD_CONFIGS[0], max(_launch.FORWARD_CONFIGS, key=lambda c: c.num_warps))
    bwd = (_launch.BACKWARD_CONFIGS[0], max(_launch.BACKWARD_CONFIGS, key=lambda c: c.num_warps))
    for config in fwd:
        build(window_attention._window_attention_fwd_kernel, dict(HAS_REGION=True), config)
    for config, one_block in zip(bwd, (True, False)):
        flags = dict(HAS_REGION=True, TABLE_GRAD=True, ONE_BLOCK=one_block)
        build(window_attention._window_attention_bwd_kernel, flags, config)
    build(attention._attention_fwd_kernel, dict(HAS_BIAS=True, HAS_KPM=True), fwd[0])
    flags = dict(HAS_BIAS=True, HAS_KPM=True, BIAS_GRAD=True, BIAS_ATOMIC=True, ONE_BLOCK=False)
    build(attention._attention_bwd_kernel, flags, bwd[0])
    """
)


@pytest.mark.slow
def test_kernels_compile_for_sm90():
    pytest.importorskip("triton.backends.nvidia")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
