"""Parameters and GMACs of every registered hybridnets model and of named timm / MONAI peers.

    python benchmarks/flops.py                                   # 2D, 224², hybridnets + peers
    python benchmarks/flops.py --input-size 64,64,64 96,96,96    # 3D, both sizes
    python benchmarks/flops.py --models convvit_t,convnext_tiny --json results/flops.json

GMACs are fvcore multiply-adds per sample (batch 1) with attention counted
(``hybridnets.flops``); FLOPs are twice that. ``--torch-check`` adds the
``torch.utils.flop_counter`` count of the same forward (matmuls, convolutions and attention
only, so it is lower by the norms) as a cross-check.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
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
)

from hybridnets.atomic import atomic_write_text
from hybridnets.flops import count_flops, count_macs, count_params
from hybridnets.resolve import model_source


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line flags; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", default=None, help="comma list (default: hybridnets + peers)")
    p.add_argument(
        "--input-size", nargs="+", default=["224"], help="one or more: 224, 64,64,64 96,96,96"
    )
    p.add_argument("--spatial-dims", type=int, choices=(2, 3), default=None)
    p.add_argument("--in-chans", type=int, default=None, help="default: 3 in 2D, 1 in 3D")
    p.add_argument("--num-classes", type=int, default=None, help="default: each model's own")
    p.add_argument("--torch-check", action="store_true", help="also count with FlopCounterMode")
    p.add_argument(
        "--threads", default="auto", help="CPU threads: a number, or auto (1 on a busy CPU)"
    )
    p.add_argument("--json", type=Path, default=None, metavar="PATH")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Count every model at every input size; returns ``{"env": ..., "rows": [...]}``."""
    args = parse_args(argv)
    torch.set_num_threads(cpu_threads(args.threads))
    sizes = [parse_input_size(s, args.spatial_dims) for s in args.input_size]
    names = split_names(args.models) if args.models else default_models(len(sizes[0]))
    sources = {name: model_source(name) for name in names}
    rows = []
    for name in names:
        for size in sizes:
            in_chans = args.in_chans or (3 if len(size) == 2 else 1)
            row: dict[str, Any] = {
                "model": name,
                "source": sources[name],
                "input_size": list(size),
                "in_chans": in_chans,
                "params_m": None,
                "gmacs": None,
            }
            start = time.perf_counter()
            try:
                model = model_for_input(name, size, in_chans, args.num_classes)
            except (ValueError, TypeError, AssertionError, RuntimeError) as err:
                row["error"] = f"{type(err).__name__}: {err}".splitlines()[0][:120]
                rows.append(row)
                continue
            shape = (1, in_chans, *size)
            row["params_m"] = round(count_params(model) / 1e6, 3)
            row["gmacs"] = round(count_macs(model, shape) / 1e9, 3)
            if args.torch_check:
                row["gmacs_torch"] = round(count_flops(model, shape) / 2e9, 3)
            rows.append(row)
            print(f"# {name} {'x'.join(map(str, size))}: {time.perf_counter() - start:.1f}s",
                  file=sys.stderr)  # fmt: skip
            del model

    print(pivot_table(rows, sizes, args.torch_check))
    result = {"env": env_info("cpu"), "rows": rows}
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return result


def pivot_table(
    rows: Sequence[dict[str, Any]], sizes: Sequence[tuple[int, ...]], torch_check: bool
) -> str:
    """Markdown: one line per model, params then GMACs per input size."""
    by_model: dict[str, dict[str, Any]] = {}
    columns = [("model", "model"), ("source", "library"), ("params_m", "params (M)")]
    for size in sizes:
        label = "x".join(map(str, size))
        columns.append((f"g{label}", f"GMACs @ {label}"))
        if torch_check:
            columns.append((f"t{label}", f"torch GMACs @ {label}"))
    for r in rows:
        label = "x".join(map(str, r["input_size"]))
        line = by_model.setdefault(r["model"], {"model": r["model"], "source": r["source"]})
        if line.get("params_m") is None:
            line["params_m"] = r["params_m"]
        line[f"g{label}"] = r["gmacs"] if "error" not in r else "n/a"
        line[f"t{label}"] = r.get("gmacs_torch")
    return markdown_table(list(by_model.values()), columns)


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
