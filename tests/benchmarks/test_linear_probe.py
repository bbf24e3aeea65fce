"""benchmarks/linear_probe.py: the protocol on separable features, the library call and the
command line on a tiny file, and a smoke test on a tiny subset of real data."""

from __future__ import annotations

import json
from pathlib import Path

import linear_probe as lp
import numpy as np


def test_probe_separable_features() -> None:
    rng = np.random.default_rng(0)

    def split(n: int):
        y = np.arange(n) % 2
        return rng.normal(size=(n, 4)) + 3 * y[:, None], y

    res = lp.probe(
        {"train": split(40), "val": split(20), "test": split(20)}, seeds=3, cs=(0.1, 1.0)
    )
    for name in ("linear_svc", "logreg"):
        assert res[name]["test_acc"] > 0.9 and len(res[name]["runs"]) == 3
        assert res[name]["runs"][0]["C"] in (0.1, 1.0)


def test_cli_tiny_subset(tmp_path: Path, medmnist_file) -> None:
    data = medmnist_file("pneumoniamnist.npz")
    out = tmp_path / "probe.json"
    lp.main(
        [
            "--model",
            "test_resnet",
            "--data",
            str(data),
            "--max-samples",
            "96",
            "--seeds",
            "2",
            "--cs",
            "0.1,1",
            "--out",
            str(out),
        ]
    )
    result = json.loads(out.read_text())
    assert result["feature_dim"] > 0 and result["data"] == "pneumoniamnist"
    for r in result["results"].values():
        assert 0 <= r["test_acc"] <= 1 and 0 <= r["test_f1_macro"] <= 1


def test_run_probe_gives_what_the_command_line_writes(tmp_path: Path, patch_toy) -> None:
    data = str(patch_toy(tmp_path / "toy.npz"))
    out = str(tmp_path / "probe.json")
    argv = ["--model", "convvit_test", "--data", data, "--seeds", "2", "--cs", "0.1,1"]
    argv += ["--subsample", "1", "--classifiers", "logreg", "--out", out]
    config, where = lp.parse_args(argv)
    expected = lp.ProbeConfig(
        model="convvit_test",
        data=data,
        seeds=2,
        cs=(0.1, 1.0),
        subsample=1.0,
        classifiers=("logreg",),
    )
    assert (config, where) == (expected, out)
    lp.main(argv)
    written, direct = json.loads(Path(out).read_text()), lp.run_probe(config)
    for result in (written, direct):
        del result["extract_s"], result["probe_s"]  # timings
    assert written == json.loads(json.dumps(direct)) and written["protocol"].startswith("2 seeds")
