"""benchmarks/align_prompts.py: the greedy name search, and a dev-split run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import align_prompts


class _Fake:
    """A run whose dev accuracy rises with 'knee' (spine) and 'lung' (thorax) and falls a
    little with every other name added."""

    name = "fake__s0"

    def score(self, task: str, names: dict[str, list[str]]) -> dict[str, float]:
        assert task == "region"
        acc = (
            0.5 + 0.1 * ("knee" in names["Spine and Muscles"]) + 0.03 * ("lung" in names["Thorax"])
        )
        acc -= 0.001 * sum(len(v) for v in names.values())
        return {"acc": acc, "balanced_acc": acc}


def test_greedy_adds_the_names_that_help_most_first_and_stops() -> None:
    start = {c: [v[0]] for c, v in align_prompts.POOL["region"].items()}
    best = align_prompts.greedy([_Fake()], "region", start, min_gain=0.005)
    assert best["names"]["Spine and Muscles"] == ["spine", "knee"]
    assert best["names"]["Thorax"] == ["chest", "lung"]
    assert all(best["names"][c] == start[c] for c in ("Head", "Abdomen"))
    assert abs(best["acc"] - (0.5 + 0.13 - 0.007)) < 1e-9
    assert best["per_run"] == {"fake__s0": round(best["acc"], 4)}
    # a higher bar keeps only the large gain
    best = align_prompts.greedy([_Fake()], "region", start, min_gain=0.05)
    assert best["names"]["Thorax"] == ["chest"] and "knee" in best["names"]["Spine and Muscles"]


def test_scores_every_variant_of_finished_runs_on_dev(tmp_path: Path, finished_align_run) -> None:
    finished_align_run(5)
    argv = ["--runs", str(tmp_path / "runs"), "--out", str(tmp_path)]
    assert align_prompts.main([*argv, "--glob", "*@64__s*"]) == 0  # the run is at 32²
    assert not (tmp_path / "align_prompts_region.json").exists()
    assert align_prompts.main([*argv, "--glob", "*@32__s*"]) == 0
    result = json.loads((tmp_path / "align_prompts_region.json").read_text())
    assert result["split"] == "dev" and result["runs"] == ["convvit_test@32__s0"]
    variants = result["variants"]
    assert set(variants) == {"current", "pool", "greedy"}
    assert variants["pool"]["names"] == align_prompts.POOL["region"]
    assert variants["greedy"]["acc"] >= variants["current"]["acc"]
    for v in variants.values():  # 5 dev images, one per region
        assert v["acc"] * 5 == round(v["acc"] * 5) and list(v["per_run"]) == ["convvit_test@32__s0"]


def test_without_runs_or_data_it_says_so(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("MEDPIX2_DIR", str(tmp_path / "nowhere"))
    assert align_prompts.main(["--runs", str(tmp_path), "--out", str(tmp_path)]) == 0
    assert "need finished runs" in caplog.text and not list(tmp_path.glob("*.json"))
