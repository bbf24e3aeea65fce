"""Smoke tests for hybridnets.train.recipe: one tiny epoch in 2D (real data) and 3D (toy)."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch

import hybridnets
from hybridnets.checkpoint import load_trained
from hybridnets.data import MedMNIST, MedMNISTFormatError
from hybridnets.engine import StopRequest, TrainingStopped, param_groups
from hybridnets.engine.trainer import TIMING_KEYS
from hybridnets.inference import evaluate
from hybridnets.train import TrainConfig, train
from hybridnets.train import recipe as recipe_module
from hybridnets.train.__main__ import parse_args
from hybridnets.train.batches import stratified_subset
from hybridnets.train.recipe import STATE_FILE


def _check_result(result: dict, out: Path, data: Path) -> None:
    """The saved result is the one returned, its checkpoint reproduces its test metrics, and
    the reported epoch is the one the default selector (validation loss minus AUC, trailing
    mean over 3 epochs) picks."""
    saved = json.loads((out / "result.json").read_text())
    assert saved["test"] == result["test"] and saved["epochs_run"] == len(saved["history"])
    history = saved["history"]
    scores = [
        np.mean([r["val_loss"] - r["val_auc"] for r in history[max(0, i - 2) : i + 1]])
        for i in range(len(history))
    ]
    assert [r["val_loss_auc"] for r in history] == pytest.approx(scores)
    assert saved["best_epoch"] == 1 + int(np.argmin(scores))
    assert not (out / STATE_FILE).exists()  # removed once the run is complete
    model, recipe = load_trained(result["checkpoint"])
    assert sum(p.numel() for p in model.parameters()) == result["params"]
    test = MedMNIST(data, "test")
    test.set_normalization(recipe["mean"], recipe["std"])
    # tta auto: a run that flips in training evaluates the mean of both views
    assert recipe["tta"] == ("flip" if saved["config"]["augment"] else "none")
    again = evaluate(model, test, torch.device("cpu"), tta=recipe["tta"])
    assert again["acc"] == pytest.approx(result["test"]["acc"], abs=1e-9)
    assert again["auc"] == pytest.approx(result["test"]["auc"], abs=1e-6)


def test_one_epoch_2d_real_data(tmp_path: Path, medmnist_file) -> None:
    data = medmnist_file("pneumoniamnist.npz")
    config = TrainConfig(
        model="test_resnet",
        data=str(data),
        out_dir=str(tmp_path),
        epochs=1,
        batch_size=32,
        max_train_samples=64,
        progress=False,
        ema_decay=0.9,
    )
    _check_result(train(config), tmp_path, data)


def test_one_epoch_3d_hybridnets(cube_toy, tmp_path: Path) -> None:
    data = cube_toy(tmp_path / "toy3d.npz")
    argv = ["--model", "convvit_test", "--data", str(data)]
    argv += ["--out", str(tmp_path / "run"), "--epochs", "4", "--batch-size", "8"]
    config = parse_args([*argv, "--no-progress", "--num-threads", "1"])
    result = train(config)
    _check_result(result, tmp_path / "run", data)
    assert (Path(result["checkpoint"]) / "config.json").is_file()  # via save_pretrained


@pytest.mark.parametrize(
    ("size", "model_kwargs", "stride"), [(28, {}, 2), (64, {}, 4), (64, {"stem_stride": 2}, 2)]
)
def test_convvit_n_stem_follows_the_input_size_and_the_checkpoint_keeps_it(
    tmp_path: Path, toy_npz, size: int, model_kwargs: dict, stride: int
) -> None:
    """From 56 px convvit_n strides 4 in its stem unless --model-kwargs says otherwise; the
    checkpoint records the stride it trained with, so loading rebuilds the same network."""
    data = toy_npz(2, size, 16, 16)
    config = TrainConfig(
        model="convvit_n", data=str(data), out_dir=str(tmp_path), epochs=1, batch_size=8,
        model_kwargs=model_kwargs, progress=False, num_threads=1,
    )  # fmt: skip
    result = train(config)
    record = json.loads((Path(result["checkpoint"]) / "checkpoint.json").read_text())
    assert record["model_kwargs"] == ({"stem_stride": stride} if size > 28 else {})
    model, _ = load_trained(result["checkpoint"])
    assert model.feature_info[0]["reduction"] == stride
    _check_result(result, tmp_path, data)


def test_tta_auto_mirrors_only_what_training_flipped() -> None:
    assert TrainConfig(model="m", data="d.npz").tta_views == "flip"
    assert TrainConfig(model="m", data="d.npz", augment=False).tta_views == "none"
    assert TrainConfig(model="m", data="d.npz", augment=False, tta="flip").tta_views == "flip"
    assert TrainConfig(model="m", data="d.npz", tta="none").tta_views == "none"
    assert parse_args(["--model", "m", "--data", "d.npz", "--tta", "none"]).tta == "none"
    with pytest.raises(SystemExit):
        parse_args(["--model", "m", "--data", "d.npz", "--tta", "rotate"])


@pytest.mark.parametrize("name", ["convvit_test", "convswin_test", "cbamnext_test"])
@pytest.mark.parametrize("layer_decay", [None, 0.75])
def test_no_weight_decay_on_1d_and_no_weight_decay_names(name, layer_decay) -> None:
    model = hybridnets.create(name, num_classes=2)
    groups = param_groups(model, 0.05, layer_decay)
    decay_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    params = dict(model.named_parameters())
    assert len(decay_of) == len(params)  # every parameter exactly once
    skip = model.no_weight_decay()
    assert skip == {n for n in params if n.endswith("relative_position_bias_table")}
    assert bool(skip) == (name != "cbamnext_test")  # attention models have tables
    for n, p in params.items():
        expected = 0.0 if (p.ndim <= 1 or n in skip) else 0.05
        assert decay_of[id(p)] == expected, n
    if layer_decay is not None:  # the stem learns slowest, the head at the full rate
        scale_of = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
        assert scale_of[id(params["head.fc.weight"])] == 1.0
        stem = scale_of[id(next(p for n, p in params.items() if n.startswith("stem")))]
        assert stem == min(scale_of.values()) < 0.25


def test_stratified_subset_keeps_class_proportions() -> None:
    labels = torch.tensor([0] * 730 + [1] * 270)
    index = stratified_subset(labels, 100, torch.Generator().manual_seed(0))
    assert len(index) == len(set(index.tolist())) == 100
    assert torch.bincount(labels[index]).tolist() == [73, 27]


def test_help_describes_every_option_with_its_default(capsys) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for f in fields(TrainConfig):
        flag = {"out_dir": "--out"}.get(f.name, "--" + f.name.replace("_", "-"))
        if f.type == "bool" and f.default:
            flag = "--no-" + flag[2:]
        assert flag in text, flag
    assert "(default: 0.998)" in text and "class-weighted cross-entropy" in text
    assert parse_args(["--model", "m", "--data", "d", "--ema-decay", "none"]).ema_decay is None


def test_bad_choices_are_refused() -> None:
    with pytest.raises(ValueError, match="class_balance must be one of"):
        TrainConfig(model="m", data="d", class_balance="weights")
    with pytest.raises(SystemExit):
        parse_args(["--model", "m", "--data", "d", "--select", "best"])


def test_interrupted_run_resumes_to_the_same_result(
    cube_toy, tmp_path: Path, crash_after_saves
) -> None:
    data = cube_toy(tmp_path / "toy3d.npz", n=16, size=16)
    config = dict(model="convvit_test", data=str(data), epochs=3, batch_size=8, progress=False)
    config["num_threads"] = 1  # bit-equality needs the same reduction order
    full = train(TrainConfig(**config, out_dir=str(tmp_path / "full")))

    out = tmp_path / "interrupted"
    with crash_after_saves(2), pytest.raises(KeyboardInterrupt):
        train(TrainConfig(**config, out_dir=str(out)))
    assert (out / STATE_FILE).is_file() and not (out / "result.json").exists()
    with pytest.raises(
        ValueError, match=r"other settings \(lr: 0\.0005 -> 0\.001\).*`resume=False`"
    ):
        train(TrainConfig(**config, out_dir=str(out), lr=1e-3))
    resumed = train(TrainConfig(**{**config, "progress": True}, out_dir=str(out)))  # may differ

    def strip(history):
        return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in history]

    assert strip(resumed["history"]) == strip(full["history"])
    assert resumed["test"] == full["test"] and resumed["best_epoch"] == full["best_epoch"]
    ours, _ = load_trained(resumed["checkpoint"])
    theirs, _ = load_trained(full["checkpoint"])
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert torch.equal(a, b), name


def test_no_resume_starts_over(cube_toy, tmp_path: Path, crash_after_saves) -> None:
    data = cube_toy(tmp_path / "toy3d.npz", n=16, size=16)
    config = dict(model="convvit_test", data=str(data), epochs=2, batch_size=8, progress=False)
    with crash_after_saves(1), pytest.raises(KeyboardInterrupt):
        train(TrainConfig(**config, out_dir=str(tmp_path)))
    result = train(TrainConfig(**config, out_dir=str(tmp_path), lr=1e-3, resume=False))
    assert result["epochs_run"] == 2 and not (tmp_path / STATE_FILE).exists()


def test_a_run_resumes_only_into_the_network_it_began_with(
    patch_toy, tmp_path: Path, crash_after_saves, monkeypatch
) -> None:
    """The state records the network's arguments: when the model's defaults for this size
    changed since the run began (here a stem rule registered in between), the same settings
    are refused rather than continued on another network; a state written before the record
    existed resumes as before."""
    from hybridnets import registry
    from hybridnets.engine import load_state, save_state

    data = patch_toy(tmp_path / "toy.npz", n_train=16, n_eval=8, size=32)
    config = dict(model="convvit_test", data=str(data), epochs=2, batch_size=8, progress=False)
    with crash_after_saves(1), pytest.raises(KeyboardInterrupt):
        train(TrainConfig(**config, out_dir=str(tmp_path)))
    assert json.loads(load_state(tmp_path / STATE_FILE)["architecture"]) == {}
    monkeypatch.setitem(registry._INPUT_KWARGS, "convvit_test", (32, {"stem_stride": 4}))
    with pytest.raises(ValueError, match=r"another network.*\{\}.*'stem_stride': 4.*resume=False"):
        train(TrainConfig(**config, out_dir=str(tmp_path)))
    state = load_state(tmp_path / STATE_FILE)
    del state["architecture"]  # as written before 0.2.0
    save_state(tmp_path / STATE_FILE, state)
    result = train(TrainConfig(**config, out_dir=str(tmp_path)))
    record = json.loads((Path(result["checkpoint"]) / "checkpoint.json").read_text())
    assert result["epochs_run"] == 2 and record["model_kwargs"] == {"stem_stride": 4}


def test_unreadable_state_says_how_to_recover(cube_toy, tmp_path: Path) -> None:
    data = cube_toy(tmp_path / "toy3d.npz", n=16, size=16)
    (tmp_path / STATE_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"cannot read training state.*delete it"):
        train(TrainConfig(model="convvit_test", data=str(data), out_dir=str(tmp_path), epochs=1))


def test_stop_request_mid_epoch_saves_and_resumes_exactly(
    cube_toy, tmp_path: Path, monkeypatch
) -> None:
    data = cube_toy(tmp_path / "toy3d.npz", n=24, size=16)  # 3 steps per epoch at batch 8
    config = dict(model="convvit_test", data=str(data), epochs=2, batch_size=8, progress=False)
    config["num_threads"] = 1
    full = train(TrainConfig(**config, out_dir=str(tmp_path / "full")))

    out, calls = tmp_path / "stopped", []

    def now(self, runtime) -> bool:  # asked after steps 1, 2 of each epoch: SIGTERM in epoch 2
        calls.append(1)
        self.signal = "SIGTERM"
        return len(calls) == 4

    with monkeypatch.context() as m:
        m.setattr(StopRequest, "now", now)
        with pytest.raises(
            TrainingStopped, match="stopped by SIGTERM in epoch 2 after step 2"
        ) as stopped:
            train(TrainConfig(**config, out_dir=str(out)))
    assert stopped.value.code == 143
    assert (out / STATE_FILE).is_file() and not (out / "result.json").exists()
    resumed = train(TrainConfig(**config, out_dir=str(out)))
    assert [r["train_loss"] for r in resumed["history"]] == [
        r["train_loss"] for r in full["history"]
    ]
    assert resumed["test"] == full["test"]
    ours, _ = load_trained(resumed["checkpoint"])
    theirs, _ = load_trained(full["checkpoint"])
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize(
    ("layout", "out", "message"),
    [
        ({"taken": "file"}, "taken", r"'.*taken' must be a folder, but it is an existing file"),
        ({"taken": "file"}, "taken/run", r"taken, a folder above it, is an existing file"),
        ({"run/best": "file"}, "run", r"best is a file, but the run writes a folder"),
        (
            {"run/result.json/": "dir"},
            "run",
            r"result\.json is a folder, but the run writes a file",
        ),
    ],
    ids=["out_is_file", "parent_is_file", "best_is_file", "result_is_folder"],
)
def test_unwritable_outputs_fail_before_training(tmp_path: Path, monkeypatch, layout, out, message):
    for name, kind in layout.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir() if kind == "dir" else path.write_text("x")

    def no_training(*args, **kwargs):
        raise AssertionError("the output check must come before any training")

    monkeypatch.setattr(recipe_module, "_setup", no_training)
    with pytest.raises(OSError, match=message):
        train(TrainConfig(model="convvit_test", data="x.npz", out_dir=str(tmp_path / out)))


def test_labels_that_skip_a_class_fail_before_training(cube_toy, tmp_path: Path) -> None:
    data = cube_toy(tmp_path / "scans.npz", n=8, size=16)
    arrays = dict(np.load(data))
    for split in ("train", "val", "test"):
        arrays[f"{split}_labels"] = arrays[f"{split}_labels"] * 2  # classes 0 and 2, no 1
    np.savez(data, **arrays)
    with pytest.raises(MedMNISTFormatError, match=r"never occur in train_labels: 1\b"):
        train(TrainConfig(model="convvit_test", data=str(data), out_dir=str(tmp_path / "run")))
    assert not (tmp_path / "run").exists()
