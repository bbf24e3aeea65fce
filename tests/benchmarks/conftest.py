"""The benchmark scripts are not a package: ``benchmarks/`` goes on the *end* of the path to import
them, so an installed distribution always wins over a script of the same name (and
tests/test_packaging.py checks that none shares a name)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.append(str(BENCHMARKS))


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    """latency.main sets torch's thread count; give the test process its own back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def parse_old_command() -> Callable[[Sequence[str]], Any]:
    """``parse_old_command(argv)``: the config that the recipe command line ``argv``
    (``[python, "-m", "hybridnets.train", "--model", ...]``, as the sweeps built them before they
    built configs) parses into, by the recipe's own parser: the "before" of each sweep's
    configs, which must equal it field for field."""
    from hybridnets.align.config import AlignConfig
    from hybridnets.engine import cli
    from hybridnets.pretrain.config import PretrainConfig
    from hybridnets.train.config import TrainConfig

    classes = {"hybridnets.train": TrainConfig, "hybridnets.pretrain": PretrainConfig,
               "hybridnets.align": AlignConfig}  # fmt: skip

    def parse(argv: Sequence[str]) -> Any:
        assert argv[0] == sys.executable and argv[1] == "-m"
        parser = importlib.import_module(f"{argv[2]}.__main__").build_parser()
        return cli.parse_config(classes[argv[2]], parser, argv[3:])

    return parse


@pytest.fixture
def finished_align_run(tmp_path: Path, monkeypatch, medpix_like, tiny_text_model):
    """``finished_align_run(n)``: a one-epoch ``convvit_test`` alignment at 32² on a MedPix-like
    folder of ``n`` images per split (``$MEDPIX2_DIR`` points at it), in ``align_medpix.py``'s
    run layout under ``tmp_path / "runs"``; returns ``(run folder, result)``."""

    def make(n: int = 4) -> tuple[Path, dict]:
        import align_medpix

        from hybridnets.align import AlignConfig, align

        root = medpix_like(tmp_path / "medpix2", n=n)
        monkeypatch.setenv("MEDPIX2_DIR", str(root))
        folder = align_medpix.run_folder(tmp_path / "runs", "convvit_test", 0, input_size=32)
        config = AlignConfig(model="convvit_test", data=str(root), text_model=str(tiny_text_model),
                             out_dir=str(folder), input_size=32, epochs=1, batch_size=4,
                             embed_dim=16, progress=False)  # fmt: skip
        return folder, align(config)

    return make
