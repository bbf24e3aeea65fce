"""Packaging promises: the wheel carries hybridnets.kernels; CI runs the README's test command."""

from __future__ import annotations

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
