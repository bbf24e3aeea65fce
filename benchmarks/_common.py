"""Shared pieces of the benchmark scripts: model names, input sizes, environment, tables.

Model names go through the library's one resolver (:mod:`hybridnets.resolve`): the hybridnets
registry first, then the MONAI aliases, then timm. So ``convvit_s``, ``swin_unetr`` and
``convnext_tiny`` can sit in one ``--models`` list.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import platform
import statistics
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

import hybridnets
from hybridnets.resolve import create_model

_logger = logging.getLogger("benchmarks")

DEFAULT_PEERS_2D = (
    "convnext_tiny",
    "swin_tiny_patch4_window7_224",
    "coatnet_0_rw_224",
    "maxvit_tiny_tf_224",
    "resnet50",
    "vit_small_patch16_224",
)
DEFAULT_PEERS_3D = ("swin_unetr_encoder", "swin_unetr", "unetr", "monai_resnet18")

RESULTS = Path(__file__).parent / "results"
"""Where benchmark summaries go."""

TEXT_KEYS = frozenset({"model", "source", "mode", "device", "dtype", "error"})
"""Table columns aligned left; the others are numbers, aligned right."""


def model_for_input(
    name: str, input_size: tuple[int, ...], in_chans: int, num_classes: int | None = None
) -> nn.Module:
    """``name`` from the library resolver (:func:`hybridnets.resolve.create_model`), in eval mode,
    for inputs of spatial size ``input_size`` (its length is ``spatial_dims``).

    ``num_classes=None`` keeps each library's default (timm/hybridnets 1000, MONAI segmentation
    nets 14, MONAI ResNet 400).
    """
    return create_model(
        name, len(input_size), in_chans, num_classes, input_size=tuple(input_size)
    ).eval()


def parse_input_size(text: str, spatial_dims: int | None = None) -> tuple[int, ...]:
    """``"224"`` → ``(224, 224)``; ``"96,96,96"`` → 3D; ``"96"`` with ``spatial_dims=3`` → 3D.

    Raises:
        ValueError: not 1–3 positive integers, or at odds with ``spatial_dims``.
    """
    parts = [p for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        size = tuple(int(p) for p in parts)
    except ValueError as err:
        raise ValueError(f"input size {text!r} must be integers, e.g. 224 or 96,96,96") from err
    if not size or any(s <= 0 for s in size) or len(size) > 3:
        raise ValueError(f"input size {text!r} must be 1 to 3 positive integers")
    if len(size) == 1:
        size = size * (spatial_dims or 2)
    if spatial_dims is not None and len(size) != spatial_dims:
        raise ValueError(
            f"input size {text!r} has {len(size)} dims but spatial_dims={spatial_dims}"
        )
    if len(size) not in (2, 3):
        raise ValueError(f"input size {text!r} must be 2D or 3D")
    return size


def default_models(spatial_dims: int) -> list[str]:
    """Every registered hybridnets model except ``*_test``, then the peers for that rank."""
    ours = [n for n in hybridnets.list_models() if not n.endswith("_test")]
    return ours + list(DEFAULT_PEERS_2D if spatial_dims == 2 else DEFAULT_PEERS_3D)


def cpu_threads(requested: str, device: torch.device | str = "cpu") -> int:
    """Threads for torch on the CPU: ``requested`` if a number; ``"auto"`` keeps torch's default
    unless the CPU is already busy (1-minute load average), then uses the cores left idle, at
    least one: OpenMP threads that wait for a busy core make every op several times slower."""
    default = torch.get_num_threads()
    if requested != "auto":
        return max(1, int(requested))
    if torch.device(device).type != "cpu" or not hasattr(os, "getloadavg"):
        return default
    idle = (os.cpu_count() or default) - os.getloadavg()[0]
    return max(1, min(default, round(idle)))


def split_names(text: str) -> list[str]:
    """``"a, b,,c"`` → ``["a", "b", "c"]``."""
    return [n.strip() for n in text.split(",") if n.strip()]


def env_info(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Versions, device name and thread count for the JSON ``env`` object."""
    device = torch.device(device)

    def version(package: str) -> str | None:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return None

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "triton": version("triton"),
        "timm": timm.__version__,
        "monai": version("monai"),
        "fvcore": version("fvcore"),
        "hybridnets": hybridnets.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "device": str(device),
        "device_name": name,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fmt(value: Any, digits: int = 2) -> str:
    """Table cell text: floats to ``digits`` decimals, None to ``-``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A Markdown table of ``rows`` with ``columns`` given as ``(key, header)`` pairs."""
    lines = [
        "| " + " | ".join(header for _, header in columns) + " |",
        "|" + "|".join("---" if key in TEXT_KEYS else "---:" for key, _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(fmt(row.get(key)) for key, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def text_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A fixed-width plain-text table (the default console output)."""
    cells = [[header for _, header in columns]]
    cells += [[fmt(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    out = []
    for r in cells:
        out.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
            )
        )
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def run_logged(argv: Sequence[str], log: Path, mode: str = "w") -> int:
    """Run ``argv`` with its output in the file ``log`` (its folder made); the exit status,
    logged with the command."""
    log.parent.mkdir(parents=True, exist_ok=True)
    _logger.info("running %s", " ".join(argv[1:]))
    with open(log, mode) as f:
        done = subprocess.run(list(argv), stdout=f, stderr=subprocess.STDOUT, check=False)
    _logger.info("%s exited %d", log, done.returncode)
    return done.returncode


def sweep_parser(
    description: str, runs: str, actions: Sequence[str] = ()
) -> argparse.ArgumentParser:
    """The parser every run/summary sweep starts from: the action (``run``, ``summary`` and
    the script's own ``actions``), ``--seeds``, ``--runs`` (run folders, default ``runs``) and
    ``--out`` (where the summary goes)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "action", choices=("run", "summary", *actions), help="run the sweep, or summarise it"
    )
    p.add_argument(
        "--seeds",
        default="0,1,2",
        type=lambda s: [int(x) for x in s.split(",")],
        help="seeds, comma-separated (default: 0,1,2)",
    )
    p.add_argument("--runs", type=Path, default=Path(runs), help=f"run folders (default: {runs})")
    p.add_argument("--out", type=Path, default=RESULTS, help="where the summary goes")
    return p


def sweep_main(
    p: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    run: Callable[[argparse.Namespace], int],
    summary: Callable[[Path, Path], Any],
    actions: dict[str, Callable[[argparse.Namespace], int]] | None = None,
) -> int:
    """Parse ``argv``; ``run(args)``, ``summary(args.runs, args.out)`` or another of the
    script's ``actions`` (name → function of the arguments); the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = p.parse_args(argv)
    if args.action == "run":
        return run(args)
    if actions and args.action in actions:
        return actions[args.action](args)
    summary(args.runs, args.out)
    return 0


def write_summary(out: Path, name: str, rows: Any, note: str, table: str) -> Path:
    """``out/<name>.json`` (``rows``) and ``out/<name>.md`` (``note``, then ``table``), each
    written atomically; returns the JSON path."""
    from hybridnets.atomic import atomic_write_text

    atomic_write_text(out / f"{name}.json", json.dumps(rows, indent=2) + "\n")
    atomic_write_text(out / f"{name}.md", f"{note}\n\n{table}\n")
    return out / f"{name}.json"


def group_results(runs: Path, key: Callable[[dict[str, Any]], str]) -> dict[str, list[dict]]:
    """The ``result.json`` of every finished run under ``runs`` (``*__s*/``), grouped by
    ``key(result)`` in folder order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(runs.glob("*__s*/result.json")):
        result = json.loads(path.read_text())
        groups.setdefault(key(result), []).append(result)
    return groups


def shared_data(env: str, *parts: str) -> Path:
    """``$env``, else ``../shared/data/<parts>`` beside the repository: where the benchmarks
    find the development data sets (never copied into the repository)."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    return Path(os.environ.get(env, default.joinpath(*parts)))


def mean_std(values: Sequence[float]) -> list[float]:
    """``[mean, sample std]`` (std 0 for one value): the ``± `` of every results table."""
    return [statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0]
