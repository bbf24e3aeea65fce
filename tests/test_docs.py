"""The documentation's promises: its code runs, its commands parse, its README stays short.

Every ```python block of the guides (``docs/src``) and the README runs, page by page in one
namespace, in a folder that holds what the pages name (``pneumoniamnist.npz``, ``my_xrays/``,
``ham.csv``, ``runs/pneu/best``, ``runs/align/...``, ``runs/mim``, ``runs/train/lora``),
made here from synthetic data with the recipes themselves. A block that needs the internet
says so on the line before it (``<!-- docs-test: not run (reason) -->``). Every
``python -m hybridnets.<recipe>`` command line of a ```bash block uses only options its
parser has. ``docs/check_site.py`` (run by ``make docs``) checks the built site.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load(path: Path, name: str):
    """A module from its file (``docs/`` and the test helpers are not packages)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


helpers = _load(ROOT / "tests" / "conftest.py", "docs_test_helpers")
PAGES = sorted(
    p for p in (ROOT / "docs" / "src").rglob("*.md") if "results" not in p.relative_to(ROOT).parts
)
MARKDOWN = [*PAGES, ROOT / "README.md"]
FENCE = re.compile(r"(?P<before>[^\n]*)\n```(?P<lang>\w*)\n(?P<code>.*?)\n```", re.S)
NOT_RUN = re.compile(r"<!-- docs-test: not run \((?P<reason>[^)]+)\) -->")
RECIPES = ("train", "pretrain", "align", "predict")


def blocks(page: Path, lang: str) -> list[tuple[str, str]]:
    """``(line before, code)`` of every ```lang block of ``page``."""
    text = "\n" + page.read_text(encoding="utf-8")
    return [(m["before"], m["code"]) for m in FENCE.finditer(text) if m["lang"] == lang]


@contextlib.contextmanager
def _inside(folder: Path):
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with everything the guides' code reads, made by the recipes on toy data."""
    from PIL import Image

    from hybridnets.align import AlignConfig, align
    from hybridnets.data.ham10000 import write_ham10000_table
    from hybridnets.pretrain.config import PretrainConfig
    from hybridnets.pretrain.recipe import pretrain
    from hybridnets.train import TrainConfig, train

    root = tmp_path_factory.mktemp("docs_workspace")
    helpers.write_patch_toy(root / "pneumoniamnist.npz", n_train=40, n_eval=20, size=28)
    helpers.write_cube_toy(root / "adrenalmnist3d.npz", n=6, size=28)
    (root / "my_xrays").mkdir()
    for i in range(3):
        Image.fromarray(np.full((28, 28), 40 * i, np.uint8)).save(root / "my_xrays" / f"{i}.png")
    helpers.write_ham_like(root / "ham")
    write_ham10000_table(root / "ham", root / "ham.csv")
    (root / "pairs").mkdir()
    pairs = helpers.write_shape_pairs(root / "pairs", n_train=24, n_test=12, size=32)
    text = helpers.write_tiny_text_model(root / "text")
    common = {"epochs": 1, "progress": False, "num_threads": 1}
    with _inside(root):
        train(
            TrainConfig(model="convvit_n", data="pneumoniamnist.npz", out_dir="runs/pneu", **common)
        )
        pretrain(
            PretrainConfig(
                model="convvit_n", data="pneumoniamnist.npz", out_dir="runs/mim", **common
            )
        )
        align(
            AlignConfig(
                model="convvit_n", data=str(pairs), text_model=str(text), input_size=32,
                in_chans=3, batch_size=8, out_dir="runs/align", **common,
            )
        )  # fmt: skip
        train(
            TrainConfig(
                model="convvit_n", data="pneumoniamnist.npz", out_dir="runs/train",
                pretrained="runs/align/image_tower", lora_rank=8, **common,
            )
        )  # fmt: skip
    return root


def _python_pages() -> list[Path]:
    return [p for p in MARKDOWN if blocks(p, "python")]


@pytest.mark.parametrize("page", _python_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(page: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workspace)
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    for before, code in blocks(page, "python"):
        skipped = NOT_RUN.search(before)
        if skipped:
            assert skipped["reason"].strip(), f"{page}: a block not run must say why"
            continue
        if code.lstrip().startswith("--8<--"):  # an included example: tests/examples runs it
            name = code.split('"')[1].split(":")[0]
            assert (ROOT / name).is_file(), f"{page} includes {name}, which does not exist"
            continue
        exec(compile(code, f"{page.name} block", "exec"), namespace)
        ran += 1
    assert ran, f"{page}: no block ran"


def _commands(page: Path) -> list[list[str]]:
    """The ``python -m hybridnets.<recipe> ...`` command lines of ``page``'s bash blocks."""
    out = []
    for _, code in blocks(page, "bash"):
        for line in code.replace("\\\n", " ").splitlines():
            words = shlex.split(line.split(" #", 1)[0], comments=True)
            for i, word in enumerate(words[:-1]):
                if word == "-m" and words[i + 1].removeprefix("hybridnets.") in RECIPES:
                    out.append(words[i + 1 :])
    return out


COMMANDS = [(page, cmd) for page in MARKDOWN for cmd in _commands(page)]


def test_the_guides_show_every_recipe() -> None:
    shown = {cmd[0] for _, cmd in COMMANDS}
    assert shown == {f"hybridnets.{r}" for r in RECIPES}


@pytest.mark.parametrize(
    ("page", "command"),
    COMMANDS,
    ids=[f"{p.relative_to(ROOT)}:{' '.join(c)[:50]}" for p, c in COMMANDS],
)
def test_command_lines_use_real_options(page: Path, command: list[str]) -> None:
    parser = importlib.import_module(f"{command[0]}.__main__").build_parser()
    known = {s for action in parser._actions for s in action.option_strings}
    used = [w.split("=", 1)[0] for w in command[1:] if w.startswith("--")]
    unknown = [w for w in used if w not in known]
    assert not unknown, f"{page}: `{' '.join(command)}` uses options {command[0]} lacks: {unknown}"


def test_readme_fits_on_two_screens() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 150, f"README.md has {len(lines)} lines; move detail into docs/src"
    assert "make demo" in "\n".join(lines) and "make test" in "\n".join(lines)


def test_a_block_that_is_not_run_is_caught_when_it_breaks(tmp_path: Path) -> None:
    """The runner is not a no-op: a block calling a renamed function fails."""
    page = tmp_path / "page.md"
    page.write_text("# x\n\n```python\nimport hybridnets\nhybridnets.create_modle('x')\n```\n")
    (code,) = [c for _, c in blocks(page, "python")]
    with pytest.raises(AttributeError, match="create_modle"):
        exec(compile(code, "page", "exec"), {})


def test_docs_site_builds_strictly_and_every_page_and_name_checks_out(tmp_path: Path) -> None:
    """``mkdocs build --strict`` into a temporary folder, then ``docs/check_site.py``."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    site = tmp_path / "site"
    config = load_config(str(ROOT / "docs" / "mkdocs.yml"), site_dir=str(site), strict=True)
    build(config)
    check = _load(ROOT / "docs" / "check_site.py", "docs_check_site")
    assert check.check(site) == []
    assert (site / "results" / "auc_vs_params.png").is_file()  # plots from the JSON
