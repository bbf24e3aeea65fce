"""Griffe extension for the API reference: ``hybridnets.kernels``, and Sphinx roles as links.

1. ``kernels/`` has no ``__init__.py`` on purpose (from the repository root ``import kernels``
   must find the installed distribution of that name, see ``kernels/README.md``);
   ``hybridnets/kernels`` is a symlink that makes it the namespace subpackage
   ``hybridnets.kernels``. Griffe's static finder skips namespace subpackages inside a regular
   package, so the folder is loaded and attached to ``hybridnets`` under that name.
2. The docstrings cross-reference with Sphinx roles (``:func:`create_model```,
   ``:class:`~hybridnets.data.MedMNIST```). Each is resolved like Python resolves the name in
   the docstring's module (its own members and imports, then ``hybridnets.<name>``, then the
   full path). A role that resolves becomes a link (to its reference entry where it has one,
   code text otherwise); one that does not is a warning, so a renamed function fails the strict
   build instead of leaving a dead name in the reference.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj):`(~?)([\w.]+)`")
PYTHON = ("builtins", "typing", "collections", "pathlib", "torch", "numpy", "timm", "monai")
"""Targets outside hybridnets that stay code text without a warning (first path part)."""


def _lookup(collection: Any, path: str) -> Any | None:
    try:
        return collection[path]
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _resolve(obj: griffe.Object, name: str, root: griffe.Module) -> str | None:
    """The full path ``name`` means in ``obj``'s docstring, or None."""
    collection = root.modules_collection
    head, _, rest = name.partition(".")
    scopes = [obj] + [p for p in _parents(obj)]
    for scope in scopes:
        if head in scope.members:
            target = scope.members[head]
            full = target.path + ("." + rest if rest else "")
            if _lookup(collection, full) is not None:
                return full
        if isinstance(scope, griffe.Module) and head in scope.imports:
            full = scope.imports[head] + ("." + rest if rest else "")
            if _lookup(collection, full) is not None or not full.startswith("hybridnets"):
                return full
    for full in (f"{root.name}.{name}", name):
        if _lookup(collection, full) is not None:
            return full
    return None


def _parents(obj: griffe.Object) -> list[griffe.Object]:
    out = []
    while obj.parent is not None:
        obj = obj.parent
        out.append(obj)
    return out


def _link(match: re.Match, obj: griffe.Object, root: griffe.Module) -> str:
    short, name = match.group(1), match.group(2)
    text = name.rsplit(".", 1)[-1] if short else name
    full = _resolve(obj, name, root)
    if full is None:
        if name.split(".")[0] not in PYTHON:
            where = f"{obj.relative_filepath}:{obj.lineno}"
            griffe.logger.warning(f"{where}: {match.group(0)} names nothing that exists")
        return f"`{text}`"
    if not full.startswith(root.name + "."):
        return f"`{text}`"
    return f'<autoref identifier="{full}" optional><code>{text}</code></autoref>'


def _walk(obj: griffe.Object, root: griffe.Module, seen: set[int]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if obj.docstring is not None and ROLE.search(obj.docstring.value):
        obj.docstring.value = ROLE.sub(lambda m: _link(m, obj, root), obj.docstring.value)
    for member in obj.members.values():
        if not member.is_alias:
            _walk(member, root, seen)


class KernelsSubpackage(griffe.Extension):
    """Attach ``kernels/`` as ``hybridnets.kernels`` and turn Sphinx roles into links."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.name != "hybridnets":
            return
        if "kernels" not in pkg.members:
            folder = Path(pkg.filepath).parent / "kernels"  # the symlink to ../kernels
            pkg.set_member("kernels", griffe.load(folder, search_paths=[folder.resolve().parent]))
        _walk(pkg, pkg, set())
