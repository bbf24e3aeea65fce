"""Predict round trips: a checkpoint's own test split gives back ``result.json``'s test metrics
exactly (2D and 3D ``.npz``, a fusion table with a split column and with training's grouped
random split), through Python and the CLI; folders and single files are read like tables."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import hybridnets
from hybridnets.predict.__main__ import main as predict_main
from hybridnets.train import TrainConfig, train


def _npz(path: Path, spatial_dims: int, size: int = 16, n: int = 12) -> Path:
    rng = np.random.default_rng(1)
    arrays = {}
    for split in ("train", "val", "test"):
        labels = np.arange(n) % 2
        images = rng.integers(0, 90, (n, *[size] * spatial_dims), dtype=np.uint8)
        images[(labels == 1, *[slice(4, 9)] * spatial_dims)] += 120
        arrays |= {f"{split}_images": images, f"{split}_labels": labels[:, None].astype(np.uint8)}
    np.savez(path, **arrays)
    return path


def _table(folder: Path, n: int = 40, split_col: bool = True) -> Path:
    rng = np.random.default_rng(2)
    (folder / "img").mkdir(parents=True)
    lines = ["image,label,age,sex,patient" + (",split" if split_col else "")]
    for i in range(n):
        label = i % 2
        x = rng.normal(60, 10, (20, 14))  # not square, not the input size
        x[4:10, 3:9] += 100 * label
        Image.fromarray(np.clip(x, 0, 255).astype(np.uint8)).save(folder / f"img/{i}.png")
        split = ("train",) * 6 + ("val",) * 2 + ("test",) * 2
        cell = f",{split[i % 10]}" if split_col else ""
        lines.append(
            f"img/{i}.png,{['no', 'yes'][label]},{30 + i},{'MF'[i % 3 == 0]},p{i // 2}{cell}"
        )
    (folder / "table.csv").write_text("\n".join(lines) + "\n")
    return folder / "table.csv"


def _train(data: Path, out: Path, **kw) -> dict:
    settings = dict(model="convvit_test", data=str(data), out_dir=str(out), epochs=2,
                    batch_size=8, progress=False, num_threads=1)  # fmt: skip
    return train(TrainConfig(**(settings | kw)))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_npz_test_split_gives_the_recorded_metrics(tmp_path: Path, spatial_dims: int) -> None:
    data = _npz(tmp_path / "toy.npz", spatial_dims)
    result = _train(data, tmp_path / "run")
    ckpt = hybridnets.load(tmp_path / "run" / "best")
    assert ckpt.kind == "classifier" and ckpt.recipe["classes"] == ["0", "1"]
    assert ckpt.predict(data).metrics() == result["test"]  # .npz: the test split by default
    assert ckpt.predict(data, split="val").metrics() == result["val"]

    out = tmp_path / "preds.csv"
    summary = predict_main(["--checkpoint", str(tmp_path / "run" / "best"), "--data", str(data),
                            "--out", str(out), "--device", "cpu"])  # fmt: skip
    assert summary["metrics"] == result["test"]
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == [
        "id",
        "prob_0",
        "prob_1",
        "predicted",
        "predicted_at_threshold",
        "label",
    ]
    assert len(rows) == 12 and rows[3]["id"] == "test/3" and rows[3]["label"] == "1"
    assert abs(float(rows[0]["prob_0"]) + float(rows[0]["prob_1"]) - 1) < 1e-6


def test_flip_tta_is_the_mean_of_both_views_and_predict_keeps_it(tmp_path: Path) -> None:
    from hybridnets.data import MedMNIST
    from hybridnets.inference import predict

    data = _npz(tmp_path / "toy.npz", 2)
    result = _train(data, tmp_path / "run", tta="flip")
    ckpt = hybridnets.load(tmp_path / "run" / "best")
    assert ckpt.recipe["tta"] == "flip"
    assert ckpt.predict(data).metrics() == result["test"]
    test = MedMNIST(data, "test")
    test.set_normalization(ckpt.recipe["mean"], ckpt.recipe["std"])
    model, cpu = ckpt.model, torch.device("cpu")
    plain = predict(model, test, cpu)
    with torch.no_grad():
        mirrored = model(test.normalize(test.images).flip(-1)).softmax(-1).numpy()
    assert np.allclose(predict(model, test, cpu, tta="flip"), (plain + mirrored) / 2, atol=1e-6)
    assert not np.allclose(plain, mirrored, atol=1e-4)  # the views differ
    with pytest.raises(ValueError, match="tta must be one of"):
        predict(model, test, cpu, tta="rotate")
    # the caller may score the same weights without it (or a plain run with it), here and in
    # the CLI
    assert np.allclose(ckpt.predict(data, tta="none").probs, plain, atol=1e-6)
    out = tmp_path / "plain.csv"
    argv = ["--checkpoint", str(tmp_path / "run" / "best"), "--data", str(data), "--out", str(out)]
    summary = predict_main([*argv, "--tta", "none"])
    assert summary["metrics"] == ckpt.predict(data, tta="none").metrics()
    with open(out) as f:
        first = next(csv.DictReader(f))
    assert float(first["prob_1"]) == pytest.approx(float(plain[0, 1]), abs=1e-6)


@pytest.mark.parametrize("split_col", [True, False], ids=["split_column", "grouped_split"])
def test_fusion_table_test_split_gives_the_recorded_metrics(tmp_path: Path, split_col) -> None:
    table = _table(tmp_path / "data", split_col=split_col)
    kw = dict(tabular="age,sex", fusion="cross", input_size=16, group_col="patient")
    result = _train(table, tmp_path / "run", split_col="split" if split_col else None, **kw)
    ckpt = hybridnets.load(tmp_path / "run" / "best")
    assert ckpt.kind == "fusion" and ckpt.recipe["threshold"] == result["threshold"]
    preds = ckpt.predict(table, split="test")
    np.testing.assert_equal(preds.metrics(), result["test"])  # NaN AUC when one class
    assert preds.classes == ["no", "yes"] and len(preds.ids) == len(preds.labels)
    if split_col:
        assert [int(i) % 10 for i in preds.ids] == [8, 9] * 4  # the rows marked test
        assert not np.isnan(preds.metrics()["auc"])
    every_row = ckpt.predict(table)
    assert len(every_row.ids) == 40
    # create(name, pretrained=<a fusion best/>) takes its image backbone
    backbone = hybridnets.create("convvit_test", in_chans=1, num_classes=0,
                                 pretrained=str(tmp_path / "run" / "best"))  # fmt: skip
    fused = {k: v for k, v in ckpt.model.image.state_dict().items() if not k.startswith("head.fc")}
    assert all(torch.equal(backbone.state_dict()[k], v) for k, v in fused.items())

    # new data without labels: the table's own columns, no label column
    new = tmp_path / "data" / "new.csv"
    rows = list(csv.DictReader(table.open()))[:5]
    new.write_text(
        "image,age,sex\n" + "".join(f"{r['image']},{r['age']},{r['sex']}\n" for r in rows)
    )
    unlabelled = ckpt.predict(new)
    assert unlabelled.labels is None and np.array_equal(unlabelled.probs, every_row.probs[:5])
    with pytest.raises(ValueError, match="no labels"):
        unlabelled.metrics()
    with pytest.raises(ValueError, match="fuses clinical columns"):
        ckpt.predict(tmp_path / "data" / "img")


def test_folder_and_file_predictions_match_the_table(tmp_path: Path) -> None:
    table = _table(tmp_path / "data")
    _train(table, tmp_path / "run", split_col="split", input_size=16)
    ckpt = hybridnets.load(tmp_path / "run" / "best")
    by_table = ckpt.predict(table)
    folder = ckpt.predict(tmp_path / "data" / "img")
    order = [int(Path(i).stem) for i in folder.ids]  # sorted file names: 0, 1, 10, 11, ...
    np.testing.assert_array_equal(folder.probs, by_table.probs[order])
    one = ckpt.predict(tmp_path / "data" / "img" / "7.png")
    np.testing.assert_array_equal(one.probs, by_table.probs[[7]])
    with pytest.raises(ValueError, match="no test split"):
        ckpt.predict(tmp_path / "data" / "img", split="test")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ckpt.predict(tmp_path / "nowhere")


def test_result_and_checkpoint_describe_the_preprocessing(tmp_path: Path) -> None:
    data = _npz(tmp_path / "toy.npz", 2)
    _train(data, tmp_path / "run")
    recipe = json.loads((tmp_path / "run" / "best" / "checkpoint.json").read_text())
    assert recipe["intensity"] == "uint8 / 255" and len(recipe["mean"]) == 1
    assert recipe["threshold"] is not None and recipe["kind"] == "classifier"
