"""Tests for benchmarks/pretrain_gain.py: the runs it makes and the summary it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pretrain_gain
import pytest


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pneumoniamnist.npz").write_bytes(b"")  # adrenalmnist3d.npz is absent
    monkeypatch.setenv("MEDMNIST_DIR", str(tmp_path))
    return tmp_path


def _result(folder: Path, acc: float, auc: float) -> None:
    folder.mkdir(parents=True)
    result = {"test": {"acc": acc, "auc": auc}, "wall_time_s": 10.0}
    (folder / "result.json").write_text(json.dumps(result))


def test_finetune_is_the_scratch_command_plus_pretrained(data_dir: Path, tmp_path: Path) -> None:
    runs, reuse = tmp_path / "runs", tmp_path / "small"
    _result(reuse / "pneumonia_500__convvit_n__s0", 0.8, 0.9)  # an identical run already done
    mim = pretrain_gain.pretrained_folder(runs, "pneumonia", "mim")
    mim.mkdir(parents=True)
    (mim / "model.safetensors").write_bytes(b"")
    inits = ["scratch", "scratch_ld", "mim"]
    jobs = pretrain_gain.finetune_jobs(["pneumonia_500", "adrenal3d"], inits, [0, 1], runs, reuse)
    names = sorted(folder.name for folder, _, _ in jobs)
    assert names == [
        "pneumonia_500__mim__s0",
        "pneumonia_500__mim__s1",
        "pneumonia_500__scratch__s1",  # s0 comes from the small-data sweep
        "pneumonia_500__scratch_ld__s0",
        "pneumonia_500__scratch_ld__s1",
    ]  # adrenal3d: its file is missing
    argv = {folder.name: argv for folder, argv, _ in jobs}
    mim_argv, same_recipe = argv["pneumonia_500__mim__s1"], argv["pneumonia_500__scratch_ld__s1"]
    assert mim_argv[mim_argv.index("--pretrained") + 1] == str(mim)
    assert mim_argv[mim_argv.index("--layer-decay") + 1] == "0.75"
    strip = [a for a in mim_argv if a not in ("--pretrained", str(mim))]
    assert [a.replace("__mim__", "__scratch_ld__") for a in strip] == same_recipe
    assert "--layer-decay" not in argv["pneumonia_500__scratch__s1"]  # scratch's own default


def test_summary_takes_scratch_from_the_sweep_and_reports_mean_std(tmp_path: Path) -> None:
    runs, reuse = tmp_path / "runs", tmp_path / "small"
    for seed, (acc, auc) in enumerate([(0.80, 0.90), (0.82, 0.92)]):
        _result(reuse / f"pneumonia_500__convvit_n__s{seed}", acc, auc)
        _result(
            pretrain_gain.run_folder(runs, "pneumonia_500", "mim", seed), acc + 0.05, auc + 0.03
        )
    _result(reuse / "pneumonia_500__convvit_n__s3", 0.5, 0.5)  # a seed the others lack
    path = pretrain_gain.summary(runs, reuse, out=tmp_path, seeds=[0, 1, 2])
    rows = {
        r["init"]: r for r in json.loads((tmp_path / "pretrain_gain.json").read_text())["finetune"]
    }
    assert rows["scratch"]["test_acc"][0] == pytest.approx(0.81)
    assert rows["mim"]["test_acc"][0] == pytest.approx(0.86) and rows["mim"]["seeds"] == 2
    assert (
        "| pneumonia_500 | MIM-pretrained + layer decay 0.75 | 2 | 0.860 ± 0.014"
        in path.read_text()
    )


def test_pretrain_jobs_one_folder_per_objective(data_dir: Path, tmp_path: Path) -> None:
    jobs = pretrain_gain.pretrain_jobs(
        ["pneumonia", "adrenal3d"], ["mim", "contrastive"], tmp_path, epochs=5
    )
    argv = {folder.name: argv for folder, argv, _ in jobs}
    assert sorted(argv) == ["contrastive_pneumonia", "mim_pneumonia"]  # adrenal3d: no file
    contrastive = argv["contrastive_pneumonia"]
    assert contrastive[contrastive.index("--objective") + 1] == "contrastive"
    assert contrastive[contrastive.index("--epochs", 8) + 1] == "5"  # the override comes last
    assert "--objective" not in argv["mim_pneumonia"]


def test_probe_compares_with_the_same_random_init_in_every_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patch_toy
) -> None:
    """Each objective's probe.json holds the random-init encoder beside the pretrained one,
    drawn from seed 0 after the pretrained model: here the 'pretrained' weights are that very
    draw, so both probe exactly alike."""
    import torch

    import hybridnets

    patch_toy(tmp_path / "pneumoniamnist.npz")
    monkeypatch.setenv("MEDMNIST_DIR", str(tmp_path))
    kwargs = {"spatial_dims": 2, "in_chans": 1, "num_classes": 0}
    torch.manual_seed(0)
    hybridnets.create(pretrain_gain.MODEL, **kwargs)
    second_draw = hybridnets.create(pretrain_gain.MODEL, **kwargs)
    folder = pretrain_gain.pretrained_folder(tmp_path / "runs", "pneumonia", "contrastive")
    hybridnets.save_pretrained(second_draw, folder)
    pretrain_gain.run_probes(tmp_path / "runs", ["pneumonia"], ["contrastive"])
    probes = json.loads((folder / "probe.json").read_text())
    assert list(probes) == ["random init", "contrastive-pretrained"]
    assert probes["random init"] == probes["contrastive-pretrained"]
