"""Attention backends side by side: fused Triton kernels, SDPA, FlexAttention and the reference.

    python benchmarks/attention_backends.py --device cuda --dtypes bf16,fp16,fp32 --json results/kernels.json
    python benchmarks/attention_backends.py --device cuda --shapes swin_t_stage1 --backends triton,sdpa
    python benchmarks/attention_backends.py --device cpu --iters 3 --interpret   # tiny shapes, for testing

Backends: ``triton`` (the ``hybridnets::*`` custom ops; the bias is gathered and the mask built
inside the kernel), ``sdpa`` (``F.scaled_dot_product_attention`` with the bias and shift mask
materialised as ``attn_mask``, as timm's Swin does; the ``sdpa_kernel`` column says which SDPA
kernel PyTorch picked), ``flex`` (``flex_attention`` compiled, ``score_mod`` for the relative
position bias and a block mask for the shift mask / key padding; CUDA only) and ``reference``.

Per shape, dtype, mode (``fwd`` or ``fwd+bwd``) and backend a row gives the median time over
``--iters`` runs (CUDA events on CUDA), TFLOP/s, GB/s, % of the roofline and peak memory.
FLOPs are ``4·B·H·Lq·Lk·D`` forward (``q·kᵀ`` and ``p·v``) and 3.5× that for forward+backward
(the backward's five matmuls count 2.5× the forward: ``hybridnets.ops.attention_flops``, the
convention of PyTorch's SDPA formulas). Bytes are the ideal traffic:
q, k, v, o (and key padding mask) plus the bias table forward; forward+backward adds reading
q, k, v, o, dO and writing dq, dk, dv and the table gradient. The roofline is
``min(peak FLOP/s, FLOPs/bytes · peak B/s)`` with H100 SXM peaks by default (dense 989 TFLOP/s
bf16/fp16, 67 fp32 or 494.5 with TF32, 3.35 TB/s); pass ``--peak-tflops`` / ``--peak-tbps``
for another device. ``max_err`` is the forward's largest deviation from the fp32 reference.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from _common import env_info, markdown_table, split_names
from torch import Tensor

import hybridnets.ops as ops
from hybridnets.layers.rel_pos import relative_position_index
from hybridnets.layers.windows import shift_region_ids
from hybridnets.ops import AttentionRequest, Request, WindowAttentionRequest
from hybridnets.ops.attention_flops import attention_flops
from hybridnets.ops.backends import sdpa_inputs

logger = logging.getLogger("benchmarks.kernels")

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
BACKENDS = ("triton", "sdpa", "flex", "reference")
MODES = ("fwd", "fwd+bwd")
H100_TFLOPS = {torch.bfloat16: 989.0, torch.float16: 989.0, torch.float32: 67.0}
H100_TF32_TFLOPS = 494.5
H100_TBPS = 3.35


@dataclass(frozen=True)
class Shape:
    """A benchmark problem: windowed attention over a (padded, shifted) map, or cross attention.

    Attributes:
        name: Row label.
        op: ``"window"`` or ``"cross"``.
        batch: Images (window op) or sequences (cross op).
        heads: Attention heads.
        head_dim: Channels per head.
        window: Window size per spatial dim (window op).
        padded: Token map size after padding to a multiple of the window (window op).
        valid: Token map size before padding (window op).
        shift: Cyclic shift per dim, 0 for none (window op).
        lq: Query length (cross op).
        lk: Key length (cross op); sequence ``i`` keeps ``lk - 8·i`` keys, the rest is padding.
    """

    name: str
    op: str
    batch: int
    heads: int
    head_dim: int
    window: tuple[int, ...] = ()
    padded: tuple[int, ...] = ()
    valid: tuple[int, ...] = ()
    shift: tuple[int, ...] = ()
    lq: int = 0
    lk: int = 0

    @property
    def n_windows(self) -> int:
        return math.prod(p // w for p, w in zip(self.padded, self.window))

    @property
    def q_shape(self) -> tuple[int, int, int, int]:
        if self.op == "window":
            n = math.prod(self.window)
            return (self.batch * self.n_windows, self.heads, n, self.head_dim)
        return (self.batch, self.heads, self.lq, self.head_dim)

    @property
    def k_shape(self) -> tuple[int, int, int, int]:
        if self.op == "window":
            return self.q_shape
        return (self.batch, self.heads, self.lk, self.head_dim)


SHAPES = {
    s.name: s
    for s in (
        # Swin-T at 224², batch 128: stage 1 is 56² tokens in 64 windows of 7², 3 heads.
        Shape("swin_t_stage1", "window", 128, 3, 32, (7, 7), (56, 56), (56, 56), (3, 3)),
        # Swin-T stage 3: 14² tokens in 4 windows, 12 heads.
        Shape("swin_t_stage3", "window", 128, 12, 32, (7, 7), (14, 14), (14, 14), (3, 3)),
        # 96³ volume, patch 2 → 48³ tokens padded to 49³: 343 windows of 7³ = 343 tokens.
        Shape("swin3d_w7_96", "window", 2, 3, 32, (7, 7, 7), (49, 49, 49), (48, 48, 48), (3, 3, 3)),
        # 14² image tokens attending to up to 77 text tokens (CLIP context), padded per sample.
        Shape("cross_text", "cross", 32, 8, 32, lq=196, lk=77),
        # Tiny problems for CPU runs and tests.
        Shape("tiny_2d", "window", 1, 2, 16, (3, 3), (6, 6), (5, 6), (1, 1)),
        Shape("tiny_3d", "window", 1, 2, 16, (2, 2, 2), (4, 4, 4), (4, 4, 4), (1, 1, 1)),
        Shape("tiny_cross", "cross", 2, 2, 16, lq=12, lk=9),
    )
}
CUDA_SHAPES = ("swin_t_stage1", "swin_t_stage3", "swin3d_w7_96", "cross_text")
CPU_SHAPES = ("tiny_2d", "tiny_3d", "tiny_cross")


def make_inputs(shape: Shape, dtype: torch.dtype, device: torch.device) -> dict[str, Any]:
    """Random q, k, v and the op's bias / mask inputs (real Swin index and shift regions)."""
    gen = torch.Generator().manual_seed(0)

    def randn(*size: int, dt: torch.dtype = dtype) -> Tensor:
        return torch.randn(size, generator=gen).to(device, dt)

    inputs: dict[str, Any] = {
        "q": randn(*shape.q_shape),
        "k": randn(*shape.k_shape),
        "v": randn(*shape.k_shape),
    }
    if shape.op == "window":
        table_size = math.prod(2 * w - 1 for w in shape.window)
        inputs["rpb_table"] = randn(shape.heads, table_size, dt=torch.float32) * 0.1
        inputs["rel_index"] = relative_position_index(shape.window, shape.window, device=device)
        has_regions = any(shape.shift) or shape.padded != shape.valid
        inputs["region_ids"] = (
            shift_region_ids(shape.padded, shape.window, shape.shift, shape.valid, device=device)
            if has_regions
            else None
        )
    else:
        lengths = torch.tensor([max(1, shape.lk - 8 * i) for i in range(shape.batch)])
        inputs["bias"] = None
        inputs["key_padding_mask"] = (torch.arange(shape.lk) >= lengths[:, None]).to(device)
    return inputs


def flops(shape: Shape, mode: str) -> int:
    """``4·B·H·Lq·Lk·D`` forward; forward+backward is 3.5× that (``hybridnets.ops.attention_flops``)."""
    forward = attention_flops(shape.q_shape, shape.k_shape)
    if mode == "fwd":
        return forward
    return forward + attention_flops(shape.q_shape, shape.k_shape, backward=True)


def ideal_bytes(shape: Shape, dtype: torch.dtype, mode: str) -> int:
    """The least traffic: q, k, v, o (+ dO, dq, dk, dv) and the bias table or padding mask."""
    elem = torch.finfo(dtype).bits // 8
    q, kv = math.prod(shape.q_shape), math.prod(shape.k_shape)
    if shape.op == "window":
        extra = shape.heads * math.prod(2 * w - 1 for w in shape.window) * 4  # fp32 table
    else:
        extra = shape.batch * shape.lk  # bool padding mask
    forward = elem * (2 * q + 2 * kv) + extra
    if mode == "fwd":
        return forward
    # backward reads q, k, v, o, dO and writes dq, dk, dv; the table is read and its grad written
    return forward + elem * (4 * q + 4 * kv) + 2 * extra


def make_request(shape: Shape, inputs: dict[str, Any]) -> Request:
    """The ``hybridnets.ops`` request of ``inputs`` (their keys are the request's fields)."""
    return (WindowAttentionRequest if shape.op == "window" else AttentionRequest)(**inputs)


def sdpa_kernel_name(shape: Shape, inputs: dict[str, Any]) -> str:
    """Which SDPA kernel PyTorch picks for the SDPA backend's call on these inputs."""
    from torch.nn.attention import SDPBackend

    q, k, v, mask = sdpa_inputs(make_request(shape, inputs))  # what SDPABackend passes to SDPA
    names = {
        int(SDPBackend.FLASH_ATTENTION): "flash",
        int(SDPBackend.EFFICIENT_ATTENTION): "mem-efficient",
        int(SDPBackend.MATH): "math",
        int(SDPBackend.CUDNN_ATTENTION): "cudnn",
    }
    try:
        choice = torch._fused_sdp_choice(q, k, v, mask, 0.0, False)
    except Exception as exc:  # private API: report instead of failing the run
        return f"unknown ({type(exc).__name__})"
    return names.get(int(choice), f"backend {int(choice)}")


def flex_runner(shape: Shape, inputs: dict[str, Any]) -> Callable[..., Tensor]:
    """Compiled ``flex_attention`` with the bias as ``score_mod`` and masks as a block mask."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    compiled = torch.compile(flex_attention, dynamic=False)
    q = inputs["q"]
    if shape.op == "window":
        bw, _, n, _ = q.shape
        rel_index = inputs["rel_index"]
        region_ids = inputs["region_ids"]
        block_mask = None
        if region_ids is not None:
            nw = region_ids.shape[0]

            def mask_mod(b, h, q_idx, kv_idx):
                return region_ids[b % nw, q_idx] == region_ids[b % nw, kv_idx]

            block_mask = create_block_mask(mask_mod, bw, None, n, n, device=q.device)

        def run(q, k, v, rpb_table):
            def score_mod(score, b, h, q_idx, kv_idx):
                return score + rpb_table[h, rel_index[q_idx, kv_idx]]

            return compiled(q, k, v, score_mod=score_mod, block_mask=block_mask)

        return run

    pad = inputs["key_padding_mask"]
    b, _, lq, _ = q.shape

    def keep(b, h, q_idx, kv_idx):
        return ~pad[b, kv_idx]

    block_mask = create_block_mask(keep, b, None, lq, shape.lk, device=q.device)
    return lambda q, k, v: compiled(q, k, v, block_mask=block_mask)


def make_forward(backend: str, shape: Shape, inputs: dict[str, Any]) -> Callable[[], Tensor]:
    """A closure running one forward of ``backend`` on ``inputs`` (leaves may require grad)."""
    if backend == "flex":
        run = flex_runner(shape, inputs)
        keys = ("q", "k", "v", "rpb_table") if shape.op == "window" else ("q", "k", "v")
        return lambda: run(*(inputs[key] for key in keys))
    name = None if backend == "auto" else backend
    request = make_request(shape, inputs)
    return lambda: ops.select_backend(request, name).run(request)


def time_ms(fn: Callable[[], Any], device: torch.device, warmup: int, iters: int) -> float:
    """Median milliseconds of ``fn`` (CUDA events on CUDA, wall clock elsewhere)."""
    for _ in range(warmup):
        fn()
    times = []
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        for _ in range(iters):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    else:
        for _ in range(iters):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def peak_tflops(dtype: torch.dtype, override: float | None) -> float:
    """Dense peak TFLOP/s for ``dtype``: ``override``, else the H100 SXM figure."""
    if override is not None:
        return override
    if dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32:
        return H100_TF32_TFLOPS
    return H100_TFLOPS[dtype]


def bench_one(
    shape: Shape,
    dtype: torch.dtype,
    backend: str,
    device: torch.device,
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """Rows (one per mode) for one shape, dtype and backend; failures become an error row."""
    rows = []
    base = {"shape": shape.name, "dtype": str(dtype).removeprefix("torch."), "backend": backend}
    inputs = make_inputs(shape, dtype, device)
    if backend == "sdpa":
        base["sdpa_kernel"] = sdpa_kernel_name(shape, inputs)
    try:
        forward = make_forward(backend, shape, inputs)
        with torch.no_grad():
            out = forward()
        ref_inputs = {
            k: (v.float() if isinstance(v, Tensor) and v.is_floating_point() else v)
            for k, v in inputs.items()
        }
        ref = make_forward("reference", shape, ref_inputs)()
        max_err = (out.float() - ref).abs().max().item()
        del ref, ref_inputs, out
    except Exception as exc:
        logger.debug("%s failed", backend, exc_info=True)
        return [{**base, "mode": m, "error": _short(exc)} for m in args.modes]

    for mode in args.modes:
        row = {**base, "mode": mode, "max_err": max_err}
        leaves = [inputs[k] for k in ("q", "k", "v", "rpb_table") if inputs.get(k) is not None]
        try:
            if mode == "fwd":
                for t in leaves:
                    t.requires_grad_(False)

                def step() -> None:
                    with torch.no_grad():
                        forward()

            else:
                for t in leaves:
                    t.requires_grad_(True)
                grad = torch.randn(shape.q_shape, device=device, dtype=dtype)

                def step(leaves: list[Tensor] = leaves, grad: Tensor = grad) -> None:
                    for t in leaves:
                        t.grad = None
                    forward().backward(grad)

            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            ms = time_ms(step, device, args.warmup, args.iters)
            row["ms"] = ms
            row["tflops"] = flops(shape, mode) / ms / 1e9
            row["gbps"] = ideal_bytes(shape, dtype, mode) / ms / 1e6
            if device.type == "cuda":
                row["peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
                peak_flops = peak_tflops(dtype, args.peak_tflops) * 1e12
                intensity = flops(shape, mode) / ideal_bytes(shape, dtype, mode)
                attainable = min(peak_flops, intensity * args.peak_tbps * 1e12)
                row["roofline_pct"] = 100 * row["tflops"] * 1e12 / attainable
        except Exception as exc:
            logger.debug("%s %s failed", backend, mode, exc_info=True)
            row["error"] = _short(exc)
        rows.append(row)
    return rows


def _display(row: dict[str, Any]) -> dict[str, Any]:
    """The row as table cells: errors in scientific notation, small rates with more digits."""
    cells = dict(row)
    if row.get("max_err") is not None:
        cells["max_err"] = f"{row['max_err']:.1e}"
    for key in ("tflops", "gbps"):
        if row.get(key) is not None and row[key] < 1:
            cells[key] = f"{row[key]:.2g}"
    return cells


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("|", "/")
    return text if len(text) <= 160 else text[:157] + "..."


COLUMNS = [
    ("shape", "shape"),
    ("dtype", "dtype"),
    ("mode", "mode"),
    ("backend", "backend"),
    ("sdpa_kernel", "SDPA kernel"),
    ("ms", "ms"),
    ("tflops", "TFLOP/s"),
    ("gbps", "GB/s"),
    ("roofline_pct", "% roofline"),
    ("peak_mb", "peak MB"),
    ("max_err", "max err"),
    ("error", "error"),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--shapes", help=f"comma list of {', '.join(SHAPES)}")
    parser.add_argument("--dtypes", help="comma list of bf16, fp16, fp32 (CPU default: fp32)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--peak-tflops", type=float, help="device peak (default: H100 SXM)")
    parser.add_argument("--peak-tbps", type=float, default=H100_TBPS)
    parser.add_argument("--interpret", action="store_true", help="CPU: run Triton interpreted")
    parser.add_argument("--json", type=Path, help="also write rows and environment as JSON")
    args = parser.parse_args(argv)
    cpu = torch.device(args.device).type == "cpu"
    args.shapes = split_names(args.shapes or ",".join(CPU_SHAPES if cpu else CUDA_SHAPES))
    args.dtypes = split_names(args.dtypes or ("fp32" if cpu else "bf16,fp16,fp32"))
    args.backends = split_names(args.backends)
    args.modes = split_names(args.modes)
    for value, choices in (
        (args.shapes, SHAPES),
        (args.dtypes, DTYPES),
        (args.backends, BACKENDS),
        (args.modes, MODES),
    ):
        unknown = [v for v in value if v not in choices]
        if unknown:
            parser.error(f"unknown {unknown}; choose from {', '.join(choices)}")
    return args


@contextlib.contextmanager
def _interpreter(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    from hybridnets.kernels.interpret import cpu_interpreter

    with cpu_interpreter():
        yield


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the benchmark, print a Markdown table, return the rows."""
    args = parse_args(argv)
    device = torch.device(args.device)
    rows: list[dict[str, Any]] = []
    with _interpreter(args.interpret and device.type == "cpu"):
        for name in args.shapes:
            for dtype_name in args.dtypes:
                for backend in args.backends:
                    if backend == "flex" and device.type != "cuda":
                        continue  # flex_attention's fused kernels need CUDA
                    rows.extend(bench_one(SHAPES[name], DTYPES[dtype_name], backend, device, args))
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
    env = env_info(device)
    columns = [c for c in COLUMNS if any(row.get(c[0]) is not None for row in rows)]
    lines = [
        f"Attention kernels on {env['device_name']} (torch {env['torch']}, "
        f"triton {env['triton']}); median of {args.iters} runs.",
        "",
        markdown_table([_display(row) for row in rows], columns),
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"env": env, "rows": rows}, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
