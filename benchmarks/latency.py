"""Latency, throughput and peak memory of hybridnets models beside timm and MONAI peers.

    python benchmarks/latency.py --models convvit_s,convnext_tiny,swin_tiny_patch4_window7_224 \
        --batch-size 1,4 --input-size 224 --markdown
    python benchmarks/latency.py --models convvit_t,swin_unetr_encoder,unetr --input-size 96,96,96 \
        --device cuda --dtype bf16 --batch-size 1,2,4 --json results/lat3d.json

Names resolve hybridnets → MONAI alias → timm (see :mod:`hybridnets.resolve`). Per model and
setting a row gives ``params_m``, ``gmacs`` (per sample, ``hybridnets.flops``), latency
p50/p90 (ms per batch), throughput (samples/s from p50) and peak memory (CUDA: max allocated;
CPU: peak RSS above the resident size before the run). ``--dtype bf16|fp16`` runs under AMP
autocast (weights and inputs stay fp32), not pure casting. ``--mode train`` times forward,
backward and an SGD step. With ``--compile`` the first call (compilation) is timed apart.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import ctypes
import gc
import json
import math
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from _common import (
    cpu_threads,
    default_models,
    env_info,
    markdown_table,
    model_for_input,
    parse_input_size,
    split_names,
    text_table,
)
from torch import Tensor, nn
from tqdm import tqdm

from hybridnets.atomic import atomic_path, atomic_write_text
from hybridnets.flops import count_macs, count_params
from hybridnets.resolve import model_source

ROW_KEYS = (
    "model",
    "params_m",
    "gmacs",
    "latency_ms_p50",
    "latency_ms_p90",
    "throughput",
    "peak_mem_mb",
    "device",
    "dtype",
    "batch_size",
    "mode",
)
"""Keys of every JSON/CSV row; a row may add ``compile_s`` (with ``--compile``) and ``error``."""

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
TABLE_COLUMNS = (
    ("model", "model"),
    ("batch_size", "batch"),
    ("mode", "mode"),
    ("params_m", "params (M)"),
    ("gmacs", "GMACs/sample"),
    ("latency_ms_p50", "p50 (ms)"),
    ("latency_ms_p90", "p90 (ms)"),
    ("throughput", "samples/s"),
    ("peak_mem_mb", "peak mem (MB)"),
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line flags; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", default=None, help="comma list (default: hybridnets + peers)")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda if any")
    p.add_argument("--dtype", choices=tuple(DTYPES), default="fp32", help="bf16/fp16 use AMP")
    p.add_argument("--batch-size", default="1", help="one or a comma list, e.g. 1,8,32")
    p.add_argument("--input-size", default="224", help="224 (2D) or 96,96,96 (3D)")
    p.add_argument("--spatial-dims", type=int, choices=(2, 3), default=None)
    p.add_argument("--in-chans", type=int, default=None, help="default: 3 in 2D, 1 in 3D")
    p.add_argument("--num-classes", type=int, default=None, help="default: each model's own")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile; compile time apart")
    p.add_argument("--mode", choices=("infer", "train", "both"), default="infer")
    p.add_argument("--warmup", type=int, default=None, help="default: 1 on CPU, 10 on CUDA")
    p.add_argument("--iters", type=int, default=None, help="default: 5 on CPU, 50 on CUDA")
    p.add_argument(
        "--threads", default="auto", help="CPU threads: a number, or auto (1 on a busy CPU)"
    )
    p.add_argument("--json", type=Path, default=None, metavar="PATH")
    p.add_argument("--csv", type=Path, default=None, metavar="PATH")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--plot", type=Path, default=None, metavar="PATH", help="PNG: speed vs GMACs")
    p.add_argument(
        "--plot-metric", choices=("throughput", "latency"), default="throughput", help="y of --plot"
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns ``{"env": ..., "settings": ..., "rows": [...]}``."""
    args = parse_args(argv)
    if args.plot is not None:  # before minutes of timing, not after the JSON is written
        try:
            import matplotlib  # noqa: F401
        except ImportError as e:
            raise SystemExit(f"--plot needs matplotlib ({e}): pip install matplotlib") from e
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.set_num_threads(cpu_threads(args.threads, device))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available")
    size = parse_input_size(args.input_size, args.spatial_dims)
    in_chans = args.in_chans or (3 if len(size) == 2 else 1)
    names = split_names(args.models) if args.models else default_models(len(size))
    for name in names:  # fail on a typo before spending minutes on the first models
        model_source(name)
    batch_sizes = [int(b) for b in split_names(args.batch_size)]
    modes = ("infer", "train") if args.mode == "both" else (args.mode,)
    on_cpu = device.type == "cpu"
    warmup = args.warmup if args.warmup is not None else (1 if on_cpu else 10)
    iters = args.iters if args.iters is not None else (5 if on_cpu else 50)
    amp = args.dtype != "fp32"
    settings = {
        "input_size": list(size),
        "spatial_dims": len(size),
        "in_chans": in_chans,
        "channels_last": args.channels_last,
        "compile": args.compile,
        "precision": f"AMP autocast to {args.dtype}" if amp else "fp32",
        "warmup": warmup,
        "iters": iters,
        "timing": "CUDA events per iteration" if not on_cpu else "perf_counter per iteration",
        "throughput": "batch_size / p50 latency",
        "gmacs": "fvcore MACs per sample, attention counted (hybridnets.flops)",
        "peak_mem": "CUDA max allocated" if not on_cpu else "CPU peak RSS above start (VmHWM)",
    }
    env = env_info(device)
    settings["summary"] = (
        f"{device} ({env['device_name']}, {env['threads']} threads), torch {env['torch']}, "
        f"input {'x'.join(map(str, size))}, {in_chans} ch, {settings['precision']}"
        f"{', channels-last' if args.channels_last else ''}{', compiled' if args.compile else ''}"
        f", {warmup} warm-up + {iters} timed iters"
    )
    print(f"# {settings['summary']}", file=sys.stderr)

    rows = []
    for name in names:
        rows += benchmark_model(
            name, size, in_chans, batch_sizes, modes, device, args, warmup, iters
        )
    result = {"env": env, "settings": settings, "rows": rows}
    write_outputs(result, args)
    return result


def benchmark_model(
    name: str,
    size: tuple[int, ...],
    in_chans: int,
    batch_sizes: Sequence[int],
    modes: Sequence[str],
    device: torch.device,
    args: argparse.Namespace,
    warmup: int,
    iters: int,
) -> list[dict[str, Any]]:
    """Rows for one model: every mode and batch size. Out of memory at a batch size gives a
    row with an ``error`` and skips the larger batch sizes of that mode."""
    _free(device)
    model = model_for_input(name, size, in_chans, args.num_classes).to(device)
    params_m = count_params(model) / 1e6
    gmacs = count_macs(model, (1, in_chans, *size)) / 1e9  # traced on the device, fp32
    if args.channels_last:
        model = model.to(memory_format=_channels_last(len(size)))
    rows = []
    for mode in modes:
        oom_at = None
        for bs in batch_sizes:
            row: dict[str, Any] = {
                "model": name,
                "params_m": round(params_m, 3),
                "gmacs": round(gmacs, 3),
                "latency_ms_p50": None,
                "latency_ms_p90": None,
                "throughput": None,
                "peak_mem_mb": None,
                "device": str(device),
                "dtype": args.dtype,
                "batch_size": bs,
                "mode": mode,
            }
            rows.append(row)
            if oom_at is not None:
                row["error"] = f"skipped: out of memory at batch size {oom_at}"
                continue
            try:
                row.update(
                    benchmark(
                        model, (bs, in_chans, *size), device, DTYPES[args.dtype], mode, warmup,
                        iters, args.channels_last, args.compile, desc=f"{name} b{bs} {mode}",
                    )
                )  # fmt: skip
            except Exception as err:
                if not is_oom(err):
                    raise
                oom_at = bs
                row["error"] = f"out of memory at batch size {bs}"
                print(f"# {name} batch {bs} {mode}: out of memory", file=sys.stderr)
            finally:
                _free(device)
    del model
    _free(device)
    return rows


def benchmark(
    model: nn.Module,
    shape: tuple[int, ...],
    device: torch.device,
    dtype: torch.dtype,
    mode: str,
    warmup: int,
    iters: int,
    channels_last: bool = False,
    compile: bool = False,
    desc: str = "",
) -> dict[str, Any]:
    """Time ``iters`` steps of ``model`` on random inputs of ``shape`` after ``warmup`` steps.

    Args:
        model: The model, already on ``device``.
        shape: Input shape including the batch dim.
        device: Where to run.
        dtype: ``torch.float32``, or the AMP autocast dtype.
        mode: ``"infer"`` (forward under ``inference_mode``) or ``"train"`` (forward, backward
            and an SGD step).
        warmup: Untimed steps first (also after compilation).
        iters: Timed steps.
        channels_last: Use a channels-last input.
        compile: ``torch.compile`` the model; the first call is reported as ``compile_s``.
        desc: Progress bar label.

    Returns:
        ``latency_ms_p50``, ``latency_ms_p90``, ``throughput``, ``peak_mem_mb`` and, when
        compiled, ``compile_s``.
    """
    _free(device)
    x = torch.randn(shape, device=device)
    if channels_last:
        x = x.contiguous(memory_format=_channels_last(len(shape) - 2))
    step = make_step(torch.compile(model) if compile else model, x, mode, dtype)
    out: dict[str, Any] = {}
    with peak_memory(device) as peak:
        if compile:
            start = time.perf_counter()
            step()
            _sync(device)
            out["compile_s"] = round(time.perf_counter() - start, 2)
        times = time_steps(step, device, warmup, iters, desc)
    p50, p90 = percentile(times, 50), percentile(times, 90)
    return {
        "latency_ms_p50": round(p50, 3),
        "latency_ms_p90": round(p90, 3),
        "throughput": round(shape[0] * 1000.0 / p50, 2),
        "peak_mem_mb": round(peak["mb"], 1),
        **out,
    }


def make_step(model: nn.Module, x: Tensor, mode: str, dtype: torch.dtype) -> Callable[[], None]:
    """One inference or training step as a closure (AMP autocast unless ``dtype`` is fp32)."""
    device_type = x.device.type
    amp = dtype != torch.float32

    def autocast() -> contextlib.AbstractContextManager:
        if not amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type, dtype=dtype)

    if mode == "infer":
        model.eval()

        def infer() -> None:
            with torch.inference_mode(), autocast():
                model(x)

        return infer

    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    scaler = torch.amp.GradScaler(device_type, enabled=dtype == torch.float16)

    def train() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = _loss(model(x))
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return train


def time_steps(
    step: Callable[[], None], device: torch.device, warmup: int, iters: int, desc: str = ""
) -> list[float]:
    """Milliseconds per ``step`` for ``iters`` steps after ``warmup`` (CUDA events on GPU)."""
    with tqdm(total=warmup + iters, desc=desc, file=sys.stderr, leave=False) as bar:
        for _ in range(warmup):
            step()
            bar.update()
        _sync(device)
        if device.type == "cuda":
            events = [
                (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                for _ in range(iters)
            ]
            for start, end in events:
                start.record()
                step()
                end.record()
                bar.update()
            torch.cuda.synchronize(device)
            return [start.elapsed_time(end) for start, end in events]
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            step()
            times.append((time.perf_counter() - start) * 1000.0)
            bar.update()
        return times


@contextlib.contextmanager
def peak_memory(device: torch.device) -> Iterator[dict[str, float]]:
    """Yields a dict whose ``mb`` is set on exit to the peak memory of the block.

    CUDA: ``torch.cuda.max_memory_allocated`` (weights and activations included). CPU: the
    peak resident set (``VmHWM``, reset through ``/proc/self/clear_refs``) minus the resident
    set at the start; without ``/proc`` the growth of ``ru_maxrss``, which only sees new
    process-wide highs.
    """
    result = {"mb": math.nan}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        yield result
        torch.cuda.synchronize(device)
        result["mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        return
    before = _proc_status_kb("VmRSS")
    reset = before is not None and _reset_peak_rss()
    start_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    yield result
    peak = _proc_status_kb("VmHWM") if reset else None
    if peak is not None and before is not None:
        result["mb"] = max(peak - before, 0) / 1024
    else:
        result["mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_max) / 1024


def is_oom(err: BaseException) -> bool:
    """True for CUDA out-of-memory and failed CPU allocations."""
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError | MemoryError) and (
        "out of memory" in text or "can't allocate memory" in text or isinstance(err, MemoryError)
    )


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated ``q``-th percentile (as ``numpy.percentile``)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def write_outputs(result: dict[str, Any], args: argparse.Namespace) -> None:
    """Table to stdout; JSON, CSV and plot files where asked."""
    rows = result["rows"]
    columns = list(TABLE_COLUMNS)
    if any("compile_s" in r for r in rows):
        columns.append(("compile_s", "compile (s)"))
    if any(r.get("error") for r in rows):
        columns.append(("error", "note"))
    print(result["settings"]["summary"] + "\n")
    print(markdown_table(rows, columns) if args.markdown else text_table(rows, columns))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    if args.csv:
        keys = [*ROW_KEYS, "compile_s", "error"]
        with atomic_path(args.csv) as tmp, tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys, restval="")
            writer.writeheader()
            writer.writerows(rows)
    if args.plot:
        plot(rows, args.plot, args.plot_metric)


def plot(rows: Sequence[dict[str, Any]], path: Path, metric: str = "throughput") -> None:
    """Scatter of throughput (or p50 latency) against GMACs, one series per batch and mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = "throughput" if metric == "throughput" else "latency_ms_p50"
    fig, ax = plt.subplots(figsize=(7, 5))
    series = sorted({(r["batch_size"], r["mode"]) for r in rows})
    for bs, mode in series:
        pts = [r for r in rows if (r["batch_size"], r["mode"]) == (bs, mode) and r.get(key)]
        ax.scatter([r["gmacs"] for r in pts], [r[key] for r in pts], label=f"batch {bs}, {mode}")
        for r in pts:
            ax.annotate(r["model"], (r["gmacs"], r[key]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")  # fmt: skip
    ax.set_xlabel("GMACs per sample")
    ax.set_ylabel("throughput (samples/s)" if key == "throughput" else "p50 latency (ms)")
    if rows:
        ax.set_title(f"{rows[0]['device']}, {rows[0]['dtype']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def _loss(out: Any) -> Tensor:
    if isinstance(out, Tensor):
        return out.float().square().mean()
    if isinstance(out, dict):
        out = list(out.values())
    return sum(_loss(o) for o in out if isinstance(o, Tensor | list | tuple | dict))


def _channels_last(spatial_dims: int) -> torch.memory_format:
    return torch.channels_last if spatial_dims == 2 else torch.channels_last_3d


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    else:  # hand freed heap back to the OS so the next CPU peak-RSS delta starts clean
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
