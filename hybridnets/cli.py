"""Command lines generated from a recipe's config dataclass: one option per field, its help
from the ``Args:`` section of the class docstring and its default shown.

Booleans that default to on get a ``--no-...`` switch; optional numbers take ``none``;
``dict``/``list`` fields take JSON.

    parser = config_parser(AlignConfig, "python -m hybridnets.align", "Align images and text.")
    config = parse_config(AlignConfig, parser, sys.argv[1:])
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, fields
from typing import Any, TypeVar

__all__ = ["config_parser", "field_help", "parse_config", "run_and_report"]

T = TypeVar("T")

_KINDS: dict[str, Callable[[str], Any]] = {
    "int": int,
    "float": float,
    "str": str,
    "dict[str, Any]": json.loads,
    "list[str]": json.loads,
}
_METAVARS = {"int": "N", "float": "X", "dict[str, Any]": "JSON", "list[str]": "JSON"}


def field_help(cls: type) -> dict[str, str]:
    """``{field: description}`` from the ``Args:`` section of ``cls``'s docstring."""
    args = (cls.__doc__ or "").split("Args:", 1)[-1]
    return {
        m.group(1): " ".join(m.group(2).split())
        for m in re.finditer(r"^\s{8}(\w+): (.*?)(?=^\s{8}\w+: |\Z)", args, re.M | re.S)
    }


def _optional(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return None if text.lower() in ("none", "off") else kind(text)

    parse.__name__ = getattr(kind, "__name__", "value")
    return parse


def config_parser(
    cls: type,
    prog: str,
    description: str,
    choices: Mapping[str, Sequence[str]] | None = None,
    flags: Mapping[str, str] | None = None,
) -> argparse.ArgumentParser:
    """An argument parser with one option per field of the dataclass ``cls``.

    Args:
        cls: The config dataclass; every field must be described in its ``Args:`` section.
        prog: The program name shown in the usage line.
        description: One paragraph above the options.
        choices: Allowed values of some fields.
        flags: Option names that differ from ``--field-name`` (``{"out_dir": "--out"}``).
    """
    helps, choices, flags = field_help(cls), dict(choices or {}), dict(flags or {})
    p = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog="Booleans that default to on have a --no-... switch; 'none' turns optional "
        "numbers off.",
        formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=36),
    )
    for f in fields(cls):
        flag = flags.get(f.name, "--" + f.name.replace("_", "-"))
        if f.name not in helps:
            raise ValueError(f"{cls.__name__}.{f.name} is not described in its docstring")
        text = helps[f.name]
        if f.default is MISSING and f.default_factory is MISSING:
            p.add_argument(flag, dest=f.name, required=True, metavar="TEXT", help=text)
            continue
        default = f.default if f.default is not MISSING else f.default_factory()
        kind_name = str(f.type).replace(" | None", "")
        if kind_name == "bool":
            if default:
                flag = "--no-" + flag.removeprefix("--")
            p.add_argument(
                flag,
                dest=f.name,
                action="store_false" if default else "store_true",
                help=f"{'Turn off: ' if default else ''}{text} "
                f"(default: {'on' if default else 'off'})",
            )
            continue
        kind = _KINDS.get(kind_name, str)
        if "None" in str(f.type):
            kind = _optional(kind)
        shown = json.dumps(default) if isinstance(default, dict | list) else default
        p.add_argument(
            flag,
            dest=f.name,
            type=kind,
            metavar=None if f.name in choices else _METAVARS.get(kind_name, "TEXT"),
            default=default,
            choices=choices.get(f.name),
            help=f"{text} (default: {shown})",
        )
    return p


def parse_config(cls: type[T], parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> T:
    """Parse ``argv`` with ``parser`` (from :func:`config_parser`) into a ``cls``."""
    args = vars(parser.parse_args(argv))
    return cls(**{f.name: args[f.name] for f in fields(cls)})


def run_and_report(
    run: Callable[[Any], dict], config: Any, leave_out: Sequence[str] = ("history", "config")
) -> dict:
    """A recipe CLI's body: log at INFO on rank 0 (WARNING on the other torchrun ranks), run
    ``run(config)``, and on rank 0 print the result without ``leave_out`` as JSON."""
    main_rank = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 reports
    logging.basicConfig(
        level=logging.INFO if main_rank else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
    )
    result = run(config)
    if main_rank:
        summary = {k: v for k, v in result.items() if k not in leave_out}
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return result
