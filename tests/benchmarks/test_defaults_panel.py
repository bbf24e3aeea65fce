"""benchmarks/defaults_panel.py: Δ and its noise band, the worst task, and leave-one-task-out."""

from __future__ import annotations

import json
from pathlib import Path

import defaults_panel as panel
import pytest


def _arm(epochs: int, acc: tuple[float, float], auc: tuple[float, float], seeds: int = 3) -> dict:
    return {"epochs": epochs, "seeds": list(range(seeds)), "best_epoch": [epochs] * seeds,
            "wall_time_s": 1.0, "acc": list(acc), "auc": list(auc), "balanced_acc": None}  # fmt: skip


def _results(tmp_path: Path, rows: list[tuple[str, str, dict, dict]]) -> Path:
    data = [{"setting": s, "model": m, "fixed": f, "derived": d} for s, m, f, d in rows]
    (tmp_path / "auto_epochs.json").write_text(json.dumps(data))
    return tmp_path


def test_delta_has_a_standard_error_and_a_verdict() -> None:
    d = panel.delta([0.80, 0.03], [0.90, 0.04], 3, 3)
    assert d["delta"] == pytest.approx(0.10) and d["se"] == pytest.approx(0.05 / 3**0.5)
    assert d["verdict"] == "gain"
    assert panel.delta([0.80, 0.03], [0.78, 0.04], 3, 3)["verdict"] == "within noise"
    assert panel.delta([0.80, 0.0], [0.70, 0.0], 1, 1)["verdict"] == "loss"  # no spread, one seed
    assert panel.delta(None, [0.7, 0.0], 1, 1)["verdict"] == "not measured"


def test_leave_one_task_out_chooses_on_the_other_tasks(tmp_path: Path) -> None:
    results = _results(tmp_path, [
        ("a", "convvit_n", _arm(30, (0.80, 0.01), (0.90, 0.01)), _arm(100, (0.85, 0.01), (0.93, 0.01))),
        ("b", "convvit_n", _arm(30, (0.60, 0.01), (0.70, 0.01)), _arm(47, (0.62, 0.01), (0.71, 0.01))),
        ("c", "convvit_n", _arm(30, (0.50, 0.01), (0.70, 0.01)), _arm(100, (0.40, 0.01), (0.69, 0.01))),
        ("c", "resnet18", _arm(30, (0.50, 0.01), (0.70, 0.01)), _arm(100, (0.51, 0.01), (0.70, 0.01))),
    ])  # fmt: skip
    data = panel.panel(results)["epochs"]
    assert [r["task"] for r in data["rows"]] == ["a", "b", "c", "c"]
    assert data["rows"][2]["delta"]["acc"]["verdict"] == "loss"
    assert data["all_tasks_choose_new"] is False  # c loses for convvit_n
    assert data["worst"]["convvit_n"] | {"delta": 0} == {"task": "c", "metric": "acc", "delta": 0,
                                                          "verdict": "loss"}  # fmt: skip
    loto = {r["held_out"]: r for r in data["leave_one_task_out"]}
    assert loto["c"]["chosen_new"] is True  # a and b alone choose the new default ...
    assert (
        loto["c"]["held_out_delta"]["convvit_n"]["acc"]["verdict"] == "loss"
    )  # ... and c shows its cost
    assert loto["a"]["chosen_new"] is False and loto["b"]["chosen_new"] is False
    assert panel.panel(results)["fusion"]["rows"] == []  # its files are absent
    assert panel.panel(results)["epochs_25k"]["rows"] == []  # no task ran the candidate
    rows = json.loads((results / "auto_epochs.json").read_text())
    rows[1]["derived_25k"] = _arm(50, (0.65, 0.01), (0.72, 0.01))
    (results / "auto_epochs.json").write_text(json.dumps(rows))
    (half,) = panel.panel(results)["epochs_25k"]["rows"]
    assert half["task"] == "b" and half["delta"]["acc"]["delta"] == pytest.approx(0.05)
    panel.main(["--results", str(results), "--out", str(tmp_path / "out")])
    md = (tmp_path / "out" / "panel.md").read_text()
    assert "| c | convvit_n | 3 / 3 | 0.500 ± 0.010 → 0.400 ± 0.010 |" in md
    assert "- convvit_n: c, acc -10.0 (loss)" in md
    assert (
        json.loads((tmp_path / "out" / "panel.json").read_text())["epochs"]["rows"][0]["task"]
        == "a"
    )


def test_fusion_rows_pair_the_shipped_arm_with_the_fusion_before_and_image_only(
    tmp_path: Path,
) -> None:
    def arm(name: str, bal: float) -> dict:
        return {"arm": name, "seeds": [0, 1], "balanced_acc": [bal, 0.01], "auc": [0.8, 0.01],
                "acc": [0.5, 0.01]}  # fmt: skip

    rows = [arm("convvit_n", 0.40), arm("convvit_n+cross", 0.45), arm("convvit_n+cross~always", 0.45),
            arm("convvit_n+cross~shuffled", 0.40), arm("convvit_n+cross~always~shuffled", 0.36)]  # fmt: skip
    (tmp_path / "fusion_fallback_400.json").write_text(json.dumps(rows))
    data = panel.panel(tmp_path)["fusion"]
    shuffled = data["rows"][1]
    assert shuffled["task"] == "ham10000 400 images, shuffled table"
    assert shuffled["delta"]["balanced_acc"]["delta"] == pytest.approx(0.04)
    assert shuffled["reference"]["balanced_acc"] == [0.40, 0.01]
    assert shuffled["vs_reference"]["balanced_acc"]["delta"] == pytest.approx(0.0)
    assert "Δ balanced_acc vs image-only" in panel.markdown(panel.panel(tmp_path))
    # at 64² only the shipped fusion ran: a row against image-only, with no fusion before
    (tmp_path / "fusion_64_500.json").write_text(json.dumps(rows[:2]))
    at64 = panel.panel(tmp_path)["fusion"]["rows"][2:]
    assert [r["task"] for r in at64] == ["ham10000 500 images at 64², true table"]
    assert at64[0]["old"] is None and at64[0]["delta"]["auc"]["verdict"] == "not measured"
    assert at64[0]["vs_reference"]["balanced_acc"]["delta"] == pytest.approx(0.05)


def test_stem_rows_hold_the_size_aware_stem_against_the_28px_stem_and_the_baseline(
    tmp_path: Path,
) -> None:
    def small(model: str, acc: float, seeds: int = 3) -> dict:
        return {"model": model, "seeds": list(range(seeds)), "test_acc": [acc, 0.01],
                "test_auc": [0.8, 0.01]}  # fmt: skip

    (tmp_path / "medpix_region_64.json").write_text(json.dumps([
        small("convvit_n (stem stride 2) [medpix_region_300]", 0.55),
        small("convvit_n [medpix_region_300]", 0.66),
        small("resnet18 [medpix_region_300]", 0.65)]))  # fmt: skip
    (tmp_path / "adrenal3d_64.json").write_text(json.dumps([
        small("convvit_n [adrenal3d_64_300]", 0.80),
        small("monai_resnet18 [adrenal3d_64_300]", 0.75)]))  # fmt: skip
    (tmp_path / "pneumonia_400_64.json").write_text(json.dumps([
        small("convvit_n (stem stride 2) [pneumonia_400_64]", 0.80),
        small("convvit_n [pneumonia_400_64]", 0.79),
        small("resnet18 [pneumonia_400_64]", 0.85)]))  # fmt: skip
    data = panel.panel(tmp_path)["stem"]
    medpix, pneumonia, adrenal = data["rows"]
    assert pneumonia["task"].startswith("pneumonia_400_64 (28² resized to 64²")
    assert pneumonia["delta"]["acc"]["verdict"] == "within noise"
    assert pneumonia["vs_reference"]["acc"]["verdict"] == "loss"
    assert medpix["delta"]["acc"]["verdict"] == "gain"
    assert medpix["vs_reference"]["acc"]["delta"] == pytest.approx(0.01)
    assert adrenal["old"] is None and adrenal["delta"]["acc"]["verdict"] == "not measured"
    assert adrenal["vs_reference"]["acc"]["verdict"] == "gain"  # the 28-px stem too slow to run
    md = panel.markdown(panel.panel(tmp_path))
    assert "| adrenal3d_64_300 (64³, 2 classes) | convvit_n | 0 / 3 | - → 0.800 ± 0.010 |" in md
    assert "Δ acc vs the baseline" in md


def test_tta_rows_hold_each_run_scored_without_and_with_flip(tmp_path: Path) -> None:
    def side(acc: float) -> list[float]:
        return [acc, 0.01]

    rows = [{"task": "retina_auto, 28 px", "model": m, "seeds": [0, 1, 2],
             **{k: {"none": side(0.50), "flip": side(f)} for k in ("acc", "auc", "balanced_acc")}}
            for m, f in (("convvit_n", 0.53), ("resnet18", 0.50))]  # fmt: skip
    (tmp_path / "tta_flip.json").write_text(json.dumps(rows))
    data = panel.panel(tmp_path)["tta"]
    ours, theirs = data["rows"]
    assert ours["old"]["acc"] == [0.50, 0.01] and ours["new"]["seeds"] == 3
    assert ours["delta"]["acc"]["verdict"] == "gain"
    assert theirs["delta"]["auc"]["verdict"] == "within noise"
    assert data["all_tasks_choose_new"] and data["reference"] is None


def test_mixup_rows_pair_each_model_with_its_mixup_arm_on_the_same_setting(
    tmp_path: Path,
) -> None:
    def small(model: str, acc: float, bal: float | None = None) -> dict:
        row = {"model": model, "seeds": [0, 1, 2], "test_acc": [acc, 0.01], "test_auc": [0.8, 0.01]}
        return row | ({"test_balanced_acc": [bal, 0.01]} if bal is not None else {})

    (tmp_path / "mixup.json").write_text(json.dumps([
        small("convvit_n (no TTA) [retina_auto]", 0.50, 0.40),
        small("convvit_n (mixup 0.2, no TTA) [retina_auto]", 0.55, 0.30),
        small("monai_resnet18 [adrenal3d_11pct]", 0.90),
        small("monai_resnet18 (mixup 0.2) [adrenal3d_11pct]", 0.90),
        small("resnet18 [retina_auto]", 0.50),  # its mixup arm did not run: no row
    ]))  # fmt: skip
    data = panel.panel(tmp_path)["mixup"]
    retina, adrenal = data["rows"]
    assert (retina["task"], retina["model"]) == ("retina_auto", "convvit_n")
    assert retina["delta"]["acc"]["verdict"] == "gain"
    assert retina["delta"]["balanced_acc"]["verdict"] == "loss"
    assert (adrenal["task"], adrenal["model"]) == ("adrenal3d_11pct", "monai_resnet18")
    assert adrenal["delta"]["balanced_acc"]["verdict"] == "not measured"
    assert data["all_tasks_choose_new"] is False  # the balanced-accuracy loss


def test_intensity_rows_pair_its_arms_with_the_runs_without_it_in_mixup_json(
    tmp_path: Path,
) -> None:
    def small(model: str, auc: float) -> dict:
        return {"model": model, "seeds": [0, 1, 2], "test_acc": [0.5, 0.01],
                "test_auc": [auc, 0.002], "test_balanced_acc": [0.4, 0.01]}  # fmt: skip

    (tmp_path / "mixup.json").write_text(json.dumps([
        small("convvit_n (no TTA) [retina_auto]", 0.74),
        small("convvit_n (mixup 0.2, no TTA) [retina_auto]", 0.70),
        small("resnet18 [pneumonia_400_64]", 0.94),
    ]))  # fmt: skip
    (tmp_path / "intensity.json").write_text(json.dumps([
        small("convvit_n (intensity 0.2, no TTA) [retina_auto]", 0.75),
        small("resnet18 (intensity 0.2) [pneumonia_400_64]", 0.93),
    ]))  # fmt: skip
    data = panel.panel(tmp_path)["intensity"]
    retina, pneumonia = sorted(data["rows"], key=lambda r: r["task"])[::-1]
    assert (retina["task"], retina["model"]) == ("retina_auto", "convvit_n")
    assert retina["old"]["auc"][0] == 0.74 and retina["new"]["auc"][0] == 0.75  # not mixup's
    assert retina["delta"]["auc"]["verdict"] == "gain"
    assert (pneumonia["model"], pneumonia["delta"]["auc"]["verdict"]) == ("resnet18", "loss")
