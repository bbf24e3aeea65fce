"""Command lines generated from a recipe's config dataclass: one option per field, its help
from the ``Args:`` section of the class docstring and its default shown.

Booleans that default to on get a ``--no-...`` switch; optional numbers take ``none``;
``dict``/``list`` fields take JSON.

    parser = config_parser(AlignConfig, "python -m hybridnets.align", "Align images and text.")
    config = parse_config(AlignConfig, parser, sys.argv[1:])   # --config runs/a/run_config.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any, TypeVar

from hybridnets.engine.config import field_metadata
from hybridnets.engine.distributed import launched_as_main
from hybridnets.engine.outputs import RunLockedError

__all__ = [
    "RUN_CONFIG",
    "config_parser",
    "field_help",
    "parse_config",
    "read_config_file",
    "run_and_report",
    "run_cli",
    "write_run_config",
]

RUN_CONFIG = "run_config.json"
"""The file in every run folder that holds the run's settings (``--config`` reads it)."""

T = TypeVar("T")

_KINDS: dict[str, Callable[[str], Any]] = {
    "int": int,
    "float": float,
    "str": str,
    "dict[str, Any]": json.loads,
    "list[str]": json.loads,
}
_METAVARS = {"int": "N", "float": "X", "dict[str, Any]": "JSON", "list[str]": "JSON"}


def _docstring_help(doc: str | None) -> dict[str, str]:
    args = (doc or "").split("Args:", 1)[-1] if "Args:" in (doc or "") else ""
    return {
        m.group(1): " ".join(m.group(2).split())
        for m in re.finditer(r"^\s{8}(\w+): (.*?)(?=^\s{8}\w+: |\Z)", args, re.M | re.S)
    }


def field_help(cls: type) -> dict[str, str]:
    """``{field: description}`` from the ``Args:`` sections of ``cls`` and the config parts it
    inherits (the most derived class that documents a field wins)."""
    helps: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        helps |= _docstring_help(klass.__doc__)
    return helps


def _optional(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return None if text.lower() in ("none", "off") else kind(text)

    parse.__name__ = getattr(kind, "__name__", "value")
    return parse


def _declaring_part(cls: type, name: str) -> type:
    """The most basic class in ``cls``'s MRO that declares field ``name`` (its config part)."""
    owners = [k for k in cls.__mro__ if name in getattr(k, "__annotations__", {})]
    return owners[-1] if owners else cls


def config_parser(cls: type, prog: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with one option per field of the config dataclass ``cls`` (help from
    the docstrings, choices, flags and aliases from :func:`hybridnets.engine.config.setting`),
    and ``--config FILE``: a JSON (or TOML) file of field values, such as the
    ``run_config.json`` every run writes; options given on the command line override it.

    Raises:
        ValueError: A field is not described in any docstring.
    """
    helps = field_help(cls)
    p = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog="Booleans that default to on have a --no-... switch; 'none' turns optional "
        "numbers off. --config FILE reads settings from a JSON/TOML file (a run's "
        "run_config.json re-runs it); options on the command line override the file.",
        formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=36),
    )
    p.add_argument("--config", metavar="FILE", help="Settings file (JSON or TOML), see below.")
    groups: dict[type, argparse._ArgumentGroup] = {}
    for f in fields(cls):
        part = _declaring_part(cls, f.name)
        if part not in groups:
            title = (part.__doc__ or part.__name__).strip().splitlines()[0].rstrip(".")
            groups[part] = p.add_argument_group(title if part is not cls else f"{prog} options")
        group = groups[part]
        meta = field_metadata(cls, f.name)
        flag = meta["flag"] or "--" + f.name.replace("_", "-")
        if f.name not in helps:
            raise ValueError(f"{cls.__name__}.{f.name} is not described in its docstring")
        text, aliases = helps[f.name].replace("%", "%%"), list(meta["aliases"])  # argparse
        if f.default is MISSING and f.default_factory is MISSING:
            group.add_argument(
                flag, *aliases, dest=f.name, required=True, metavar="TEXT", help=text
            )
            continue
        default = f.default if f.default is not MISSING else f.default_factory()
        kind_name = str(f.type).replace(" | None", "")
        if kind_name == "bool":
            if default:
                flag = "--no-" + flag.removeprefix("--")
                aliases = ["--no-" + a.removeprefix("--") for a in aliases]
            group.add_argument(
                flag,
                *aliases,
                dest=f.name,
                action="store_false" if default else "store_true",
                default=default,
                help=f"{'Turn off: ' if default else ''}{text} "
                f"(default: {'on' if default else 'off'})",
            )
            continue
        kind = _KINDS.get(kind_name, str)
        if "None" in str(f.type):
            kind = _optional(kind)
        shown = json.dumps(default) if isinstance(default, dict | list) else default
        group.add_argument(
            flag,
            *aliases,
            dest=f.name,
            type=kind,
            metavar=None if meta["choices"] else _METAVARS.get(kind_name, "TEXT"),
            default=default,
            choices=meta["choices"],
            help=f"{text} (default: {shown})",
        )
    return p


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Field values from a ``.json`` or ``.toml`` file (a flat table of field names).

    Raises:
        FileNotFoundError, ValueError: The file is missing, unreadable or not a table.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            values = tomllib.loads(text)
        else:
            values = json.loads(text)
    except ValueError as err:
        raise ValueError(
            f"config file {path} is not valid {path.suffix[1:].upper()}: {err}"
        ) from None
    if not isinstance(values, dict):
        raise ValueError(f"config file {path} must hold one table of settings")
    return values


def parse_config(cls: type[T], parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> T:
    """Parse ``argv`` with ``parser`` (from :func:`config_parser`) into a ``cls``; the settings
    of a ``--config`` file become the defaults that the other options override."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    if known.config:
        try:
            values = read_config_file(known.config)
        except (OSError, ValueError) as err:
            parser.error(str(err))
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            parser.error(f"{known.config} sets unknown settings {unknown}; see --help")
        for action in parser._actions:
            if action.dest in values:
                action.required = False
        parser.set_defaults(**values)
    args = vars(parser.parse_args(argv))
    return cls(**{f.name: args[f.name] for f in fields(cls)})


def write_run_config(config: Any, folder: str | Path) -> Path:
    """Write ``config`` as ``folder/run_config.json``, which ``--config`` reads back."""
    from hybridnets.atomic import atomic_write_text

    path = Path(folder) / RUN_CONFIG
    return atomic_write_text(path, json.dumps(asdict(config), indent=2) + "\n")


def run_and_report(
    run: Callable[[Any], dict], config: Any, leave_out: Sequence[str] = ("history", "config")
) -> dict:
    """A recipe CLI's body: log at INFO on rank 0 (WARNING on the other torchrun ranks), run
    ``run(config)``, and on rank 0 print the result without ``leave_out`` as JSON."""
    main_rank = launched_as_main()  # under torchrun only rank 0 reports
    logging.basicConfig(
        level=logging.INFO if main_rank else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
    )
    result = run(config)
    if main_rank:
        summary = {k: v for k, v in result.items() if k not in leave_out}
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return result


USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, ImportError, RunLockedError)
"""Errors a user fixes (bad data, a bad option, a refused or missing file, a busy folder):
a CLI prints their message alone and exits with status 2."""
DEBUG_ENV = "HYBRIDNETS_DEBUG"


def _flag(cls: type, name: str, value: str | None) -> str | None:
    """The command-line words for field ``name`` (set to ``value``, a Python literal)."""
    known = {f.name: f for f in fields(cls)}
    if name not in known:
        return None
    f, meta = known[name], field_metadata(cls, name)
    flag = meta["flag"] or "--" + name.replace("_", "-")
    if str(f.type).replace(" | None", "") == "bool":
        default = f.default if f.default is not MISSING else False
        if value is None or value == str(not default):  # the switch that changes it
            return "--no-" + flag.removeprefix("--") if default else flag
        return f"(the default of {flag})"
    if value is None:
        return flag
    return f"{flag} {'none' if value == 'None' else value}"


def to_flags(message: str, cls: type) -> str:
    """Config field names in backticks (`` `out_dir` ``, `` `ema_decay=None` ``), as lower
    layers write them, turned into the command line's flags (``--out``, ``--ema-decay none``)."""

    def swap(match: re.Match) -> str:
        name, _, value = match.group(1).partition("=")
        return _flag(cls, name, value or None) or match.group(0)

    return re.sub(r"`(\w+(?:=[^`]+)?)`", swap, message)


def run_cli(
    run: Callable[[Any], dict],
    parse: Callable[[], Any],
    leave_out: Sequence[str] = ("history", "config"),
    config_cls: type | None = None,
) -> dict:
    """A recipe's ``main``: ``parse()`` the command line, :func:`run_and_report`, and turn a
    user error into one line on stderr and exit status 2, its config field names written as
    the flags of ``config_cls`` (the traceback only with ``HYBRIDNETS_DEBUG=1``; bugs keep
    theirs)."""
    try:
        return run_and_report(run, parse(), leave_out)
    except USER_ERRORS as err:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        text = to_flags(str(err), config_cls) if config_cls is not None else str(err)
        sys.stderr.write(f"error: {text}\n(set {DEBUG_ENV}=1 to see where it was raised)\n")
        raise SystemExit(2) from None
