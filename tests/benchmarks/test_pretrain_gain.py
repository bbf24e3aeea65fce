"""Tests for benchmarks/pretrain_gain.py: the runs it makes and the summary it writes."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
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


def test_finetune_is_the_scratch_config_plus_pretrained(data_dir: Path, tmp_path: Path) -> None:
    runs, reuse = tmp_path / "runs", tmp_path / "small"
    _result(reuse / "pneumonia_500__convvit_n__s0", 0.8, 0.9)  # an identical run already done
    mim = pretrain_gain.pretrained_folder(runs, "pneumonia", "mim")
    mim.mkdir(parents=True)
    (mim / "model.safetensors").write_bytes(b"")
    inits = ["scratch", "scratch_ld", "mim"]
    jobs = pretrain_gain.finetune_jobs(["pneumonia_500", "adrenal3d"], inits, [0, 1], runs, reuse)
    configs = {Path(config.out_dir).name: config for config in jobs}
    assert sorted(configs) == [
        "pneumonia_500__mim__s0",
        "pneumonia_500__mim__s1",
        "pneumonia_500__scratch__s1",  # s0 comes from the small-data sweep
        "pneumonia_500__scratch_ld__s0",
        "pneumonia_500__scratch_ld__s1",
    ]  # adrenal3d: its file is missing
    pretrained, same_recipe = (
        configs["pneumonia_500__mim__s1"],
        configs["pneumonia_500__scratch_ld__s1"],
    )
    assert pretrained.pretrained == str(mim) and pretrained.layer_decay == 0.75
    assert replace(pretrained, pretrained=None, out_dir=same_recipe.out_dir) == same_recipe
    assert configs["pneumonia_500__scratch__s1"].layer_decay is None  # scratch's own default


def test_runs_have_the_settings_of_their_former_command_lines(
    data_dir: Path, tmp_path: Path, parse_old_command
) -> None:
    """The "before" anchor: a fine-tune and a pretraining equal what the sweep's command lines
    of those runs parsed into before the sweep built configs."""
    mim = pretrain_gain.pretrained_folder(tmp_path, "pneumonia", "mim")
    mim.mkdir(parents=True)
    (mim / "model.safetensors").write_bytes(b"")
    (config,) = pretrain_gain.finetune_jobs(["pneumonia_500"], ["mim"], [1], tmp_path, None)
    data = str(data_dir / "pneumoniamnist.npz")
    before = [sys.executable, "-m", "hybridnets.train", "--model", "convvit_n", "--data", data,
              "--epochs", "30", "--max-train-samples", "500", "--seed", "1",
              "--out", str(tmp_path / "pneumonia_500__mim__s1"), "--layer-decay", "0.75",
              "--num-threads", "1", "--no-progress", "--pretrained", str(mim)]  # fmt: skip
    assert config == parse_old_command(before)
    (config,) = pretrain_gain.pretrain_jobs(["pneumonia"], ["contrastive"], tmp_path, epochs=5)
    before = [sys.executable, "-m", "hybridnets.pretrain", "--model", "convvit_n", "--data", data,
              "--epochs", "40", "--objective", "contrastive", "--epochs", "5",
              "--out", str(tmp_path / "contrastive_pneumonia"), "--num-threads", "1",
              "--no-progress"]  # fmt: skip
    assert config == parse_old_command(before)


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
    configs = {Path(config.out_dir).name: config for config in jobs}
    assert sorted(configs) == ["contrastive_pneumonia", "mim_pneumonia"]  # adrenal3d: no file
    assert configs["contrastive_pneumonia"].objective == "contrastive"
    assert configs["contrastive_pneumonia"].epochs == 5  # instead of PRETRAIN's 40
    assert configs["mim_pneumonia"].objective == "mim"
    (default,) = pretrain_gain.pretrain_jobs(["pneumonia"], ["mim"], tmp_path)
    assert default.epochs == 40 and not default.progress and default.num_threads == 1


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
