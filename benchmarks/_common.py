"""Shared pieces of the benchmark scripts: model names, input sizes, environment, data
folders, tables, and recipe runs.

Model names go through the library's one resolver (:mod:`hybridnets.resolve`): the hybridnets
registry first, then the MONAI aliases, then timm. So ``convvit_s``, ``swin_unetr`` and
``convnext_tiny`` can sit in one ``--models`` list.

Sweeps build each run as the recipe's config (``TrainConfig``, ``PretrainConfig``,
``AlignConfig``) and hand it to :func:`run_recipe`, one subprocess per run:

    config = TrainConfig(model="convvit_n", data="pneumoniamnist.npz", out_dir="runs/a",
                         num_threads=1, progress=False)
    run_recipe(config, Path("runs/a/train.log"))  # python -m hybridnets.train --config ...
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.metadata
import json
import logging
import os
import platform
import shlex
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import timm
import torch
from torch import nn

import hybridnets
from hybridnets.atomic import atomic_path, atomic_write_text
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


def md_table(
    head: Sequence[str], rows: Iterable[Sequence[Any]], align: Sequence[str] | None = None
) -> str:
    """A Markdown table: ``head``, then ``rows`` of cells (each written with ``str``);
    ``align`` gives each column's separator (``---`` left, ``---:`` right; default all left)."""
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "".join(f"{a}|" for a in align or ["---"] * len(head)),
    ]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A Markdown table of ``rows`` with ``columns`` given as ``(key, header)`` pairs."""
    align = ["---" if key in TEXT_KEYS else "---:" for key, _ in columns]
    cells = [[fmt(row.get(key)) for key, _ in columns] for row in rows]
    return md_table([header for _, header in columns], cells, align)


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


def recipe_module(cls: type) -> str:
    """The recipe a config class belongs to: ``TrainConfig`` → ``hybridnets.train``."""
    return cls.__module__.rsplit(".", 1)[0]


def write_config(config: Any, path: Path) -> Path:
    """Every field of a recipe config as the JSON file ``path`` (atomically; its folder made),
    which ``python -m <recipe> --config path`` reads back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(dataclasses.asdict(config), indent=2) + "\n")


def run_recipe(config: Any, log: Path, mode: str = "w") -> int:
    """Run the recipe of ``config`` (a ``TrainConfig``, ``PretrainConfig`` or ``AlignConfig``)
    as ``python -m <recipe> --config <log stem>.config.json`` with its output in ``log``
    (:func:`run_logged`); the exit status.

    The config file beside the log holds every field (written atomically), so the run's own
    ``run_config.json`` equals it. A subprocess per run: sweeps run single-thread runs side by
    side, and one that fails leaves the others going.
    """
    path = write_config(config, log.with_name(f"{log.stem}.config.json"))
    module = recipe_module(type(config))
    return run_logged([sys.executable, "-m", module, "--config", str(path)], log, mode)


def _refuse(message: str) -> NoReturn:
    raise ValueError(message)


def recipe_overrides(cls: type, flags: Sequence[str]) -> dict[str, Any]:
    """The fields of config class ``cls`` that the recipe's command-line options ``flags`` set,
    parsed by the recipe's own parser: ``["--class-balance", "loss"]`` → ``{"class_balance":
    "loss"}`` (fields they leave out are absent), for ``dataclasses.replace``.

    Raises:
        ValueError: An option the recipe does not take, or a bad value (the parser's message).
    """
    parser = importlib.import_module(f"{recipe_module(cls)}.__main__").build_parser()
    parser.error = _refuse  # type: ignore[method-assign]
    for action in parser._actions:
        action.default, action.required = argparse.SUPPRESS, False
    values = vars(parser.parse_args(flags))
    if "config" in values:
        raise ValueError("--config: give the settings themselves")
    return values


def recipe_options(cls: type) -> Callable[[str], dict[str, Any]]:
    """An argparse ``type`` for a sweep's option of extra recipe options, quoted
    (``--extra "--class-balance loss"``): the config fields they set (:func:`recipe_overrides`),
    parsed once with the sweep's own arguments."""

    def parse(text: str) -> dict[str, Any]:
        try:
            return recipe_overrides(cls, shlex.split(text))
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"python -m {recipe_module(cls)}: {err}") from None

    parse.__name__ = "recipe options"
    return parse


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


def medmnist_dir() -> Path:
    """``$MEDMNIST_DIR``, else ``../shared/data``: the MedMNIST ``.npz`` files."""
    return shared_data("MEDMNIST_DIR")


def medpix_dir() -> Path:
    """``$MEDPIX2_DIR``, else ``../shared/data/medpix2``: MedPix 2.0."""
    return shared_data("MEDPIX2_DIR", "medpix2")


def ham10000_dir() -> Path:
    """``$HAM10000_DIR``, else ``../shared/data/ham10000``: HAM10000."""
    return shared_data("HAM10000_DIR", "ham10000")


def mean_std(values: Iterable[float]) -> list[float]:
    """``[mean, sample std]`` (std 0 for one value): the ``± `` of every results table."""
    values = list(values)
    return [statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0]


def plus_minus(pair: Sequence[float], digits: int = 3) -> str:
    """``[0.5, 0.1414]`` → ``"0.500 ± 0.141"``: a :func:`mean_std` pair as a table cell."""
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def write_npz(dst: Path, arrays: dict) -> Path:
    """Write ``arrays`` to ``dst`` as a compressed ``.npz``, atomically."""
    import numpy as np

    with atomic_path(dst) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    return dst
