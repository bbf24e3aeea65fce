"""Packaging promises: the wheel carries hybridnets.kernels; CI runs the README's test command."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_every_package_and_the_kernels(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("hybridnets-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    kernel_files = {p.name for p in (ROOT / "kernels").glob("*.py")}
    assert {f"hybridnets/kernels/{f}" for f in kernel_files} <= names
    for package in (ROOT / "hybridnets").rglob("__init__.py"):
        assert str(package.relative_to(ROOT)) in names, f"{package} missing from the wheel"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def _importable(folder: Path) -> dict[str, Path]:
    """Top-level names ``folder`` serves as sys.path[0]: modules and regular packages (a folder
    without ``__init__.py`` is a namespace portion, which any regular package elsewhere beats)."""
    names = {}
    for entry in folder.iterdir():
        if entry.suffix == ".py":
            names[entry.stem] = entry
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            names[entry.name] = entry
    return names


# sys.path[0] when a user runs `python -m hybridnets.…` from the checkout, or one of its scripts.
SCRIPT_FOLDERS = (ROOT, ROOT / "benchmarks", ROOT / "examples")


@pytest.mark.parametrize("folder", SCRIPT_FOLDERS, ids=lambda p: p.name)
def test_nothing_in_the_tree_shadows_an_installed_distribution(folder):
    provided = importlib.metadata.packages_distributions()
    clashes = {
        name: sorted(set(provided[name]) - {"hybridnets"})
        for name in _importable(folder)
        if set(provided.get(name, ())) - {"hybridnets"}
    }
    assert not clashes, f"{folder} would shadow installed top-level modules: {clashes}; rename"


def test_kernels_folder_is_not_a_top_level_package():
    assert not (ROOT / "kernels" / "__init__.py").exists()
    assert (ROOT / "hybridnets" / "kernels").resolve() == (ROOT / "kernels").resolve()


@pytest.mark.parametrize("folder", SCRIPT_FOLDERS, ids=lambda p: p.name)
def test_third_party_kernels_and_ours_import_from_the_checkout(folder):
    """transformers imports Hugging Face's `kernels` when installed; from any of our folders it
    must get that distribution, and hybridnets.kernels must still resolve to ours."""
    pytest.importorskip("transformers")
    code = (
        "import importlib.metadata as md, importlib.util, pathlib\n"
        f"root = pathlib.Path({str(ROOT)!r})\n"
        "spec = importlib.util.find_spec('kernels')\n"
        "if 'kernels' in md.packages_distributions():\n"
        "    ours = spec.origin and (root / 'kernels') in pathlib.Path(spec.origin).resolve().parents\n"
        "    assert spec.origin and not ours, spec\n"
        "else:\n"
        "    assert spec is None or spec.origin is None, spec  # at most a namespace portion\n"
        "import transformers.integrations.hub_kernels, hybridnets.multimodal.text\n"
        "import hybridnets.kernels.interpret as k\n"
        "assert root in pathlib.Path(k.__file__).resolve().parents, k.__file__\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
