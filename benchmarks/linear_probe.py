"""Linear probe: frozen pooled features + scikit-learn classifiers, mean ± std over seeds.

Protocol. The backbone is frozen (eval mode) and gives one pooled pre-logit feature vector
per image (``forward_head(..., pre_logits=True)`` for hybridnets/timm models, the input of
``fc`` for MONAI ResNets). Features are extracted once for the train, val and test splits.
For each seed a stratified random subsample (``--subsample``, default 80%) of the training
split is drawn; features are standardised on it; each classifier is fitted for every C in
the grid on that subsample, C is picked by validation accuracy, and test accuracy and
macro-F1 are recorded. Results are mean ± sample std (ddof=1) over the seeds, so the spread
reflects the training subsample (and the solver's seed), not a change of the test set.

    python benchmarks/linear_probe.py --model resnet18 --data pneumoniamnist.npz
    python benchmarks/linear_probe.py --model runs/convvit_n/best --data pneumoniamnist.npz
    python benchmarks/linear_probe.py --model monai_resnet18 --data adrenalmnist3d.npz \
        --classifiers linear_svc,logreg,svc --out probe.json

From Python (other benchmarks): ``run_probe(ProbeConfig(model=..., data=...))`` gives the same
result JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import md_table, plus_minus
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from torch import nn

from hybridnets.atomic import atomic_write_text
from hybridnets.checkpoint import load_trained, read_record
from hybridnets.data import MedMNIST
from hybridnets.resolve import create_model
from hybridnets.train.models import feature_model

_logger = logging.getLogger("linear_probe")

CLASSIFIERS = {
    "linear_svc": lambda c, seed: LinearSVC(C=c, max_iter=2000, random_state=seed),
    "logreg": lambda c, seed: LogisticRegression(C=c, max_iter=1000, random_state=seed),
    "svc": lambda c, seed: SVC(C=c, kernel="rbf", random_state=seed),
}
DEFAULT_CS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def load_backbone(
    model: str, spatial_dims: int, in_chans: int, num_classes: int, **kwargs: Any
) -> tuple[nn.Module, dict[str, Any]]:
    """A model name (randomly initialised unless ``kwargs`` say otherwise), a folder saved by
    the training recipe or by ``hybridnets.save_pretrained``.

    Returns:
        The model and the training recipe of a recipe folder (input size, mean, std), else {}.
    """
    found = read_record(model) if Path(model).is_dir() else None
    if found is not None and "num_classes" in found[1]:  # a trained model's folder
        net, recipe = load_trained(model)
        return net, recipe
    if (Path(model) / "config.json").is_file():  # a hybridnets.save_pretrained folder
        import hybridnets

        return hybridnets.create(pretrained=model, **kwargs), {}
    return create_model(model, spatial_dims, in_chans, num_classes, **kwargs), {}


@torch.no_grad()
def extract_features(
    model: nn.Module,
    ds: MedMNIST,
    size: int | None = None,
    batch_size: int = 256,
    max_samples: int | None = None,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features ``(N, F)`` and labels ``(N,)`` of ``ds``.

    With ``max_samples``, a fixed random subset (seed 0) of that many samples is used (the
    files may be sorted by class, so the first samples are not a fair subset).
    """
    extractor = feature_model(model).to(device).eval()
    index = torch.arange(len(ds))
    if max_samples is not None and max_samples < len(ds):
        perm = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))
        index = perm[:max_samples].sort().values
    feats = []
    for start in range(0, len(index), batch_size):
        x = ds.normalize(ds.images[index[start : start + batch_size]]).to(device)
        if size is not None:
            mode = "bilinear" if ds.spatial_dims == 2 else "trilinear"
            x = torch.nn.functional.interpolate(x, size=(size,) * ds.spatial_dims, mode=mode)
        feats.append(extractor(x).flatten(1).float().cpu())
    return torch.cat(feats).numpy(), ds.labels[index].numpy()


def _fit_one(name: str, cs: Sequence[float], seed: int, train, val, test) -> dict[str, float]:
    """Fit ``name`` for each C, pick C on val accuracy, score on test."""
    best = (-1.0, None, None)
    for c in cs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = CLASSIFIERS[name](c, seed).fit(*train)
        val_acc = accuracy_score(val[1], clf.predict(val[0]))
        if val_acc > best[0]:
            best = (val_acc, c, clf)
    pred = best[2].predict(test[0])
    return {
        "C": best[1],
        "val_acc": best[0],
        "test_acc": float(accuracy_score(test[1], pred)),
        "test_f1_macro": float(f1_score(test[1], pred, average="macro")),
    }


def probe(
    features: dict[str, tuple[np.ndarray, np.ndarray]],
    classifiers: Sequence[str] = ("linear_svc", "logreg"),
    seeds: int = 5,
    subsample: float = 0.8,
    cs: Sequence[float] = DEFAULT_CS,
) -> dict[str, Any]:
    """Run the protocol on extracted ``{"train"|"val"|"test": (X, y)}`` features.

    Returns per classifier the mean and std of test ACC and macro-F1 and the per-seed runs.
    """
    x_train, y_train = features["train"]
    out: dict[str, Any] = {}
    for name in classifiers:
        if name not in CLASSIFIERS:
            raise ValueError(f"unknown classifier {name!r}; choose from {sorted(CLASSIFIERS)}")
        runs = []
        for seed in range(seeds):
            if subsample < 1:
                xs, _, ys, _ = train_test_split(
                    x_train, y_train, train_size=subsample, stratify=y_train, random_state=seed
                )
            else:
                xs, ys = x_train, y_train
            scaler = StandardScaler().fit(xs)
            split = {k: (scaler.transform(x), y) for k, (x, y) in features.items()}
            runs.append(
                _fit_one(name, cs, seed, (scaler.transform(xs), ys), split["val"], split["test"])
            )
        summary = {"runs": runs}
        for metric in ("test_acc", "test_f1_macro"):
            values = np.array([r[metric] for r in runs])
            summary[metric] = float(values.mean())
            summary[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        out[name] = summary
    return out


def markdown(model: str, data: str, results: dict[str, Any]) -> str:
    """A Markdown table of a :func:`probe` result."""
    rows = [
        [model, data, name, plus_minus([r["test_acc"], r["test_acc_std"]]),
         plus_minus([r["test_f1_macro"], r["test_f1_macro_std"]])]
        for name, r in results.items()
    ]  # fmt: skip
    return md_table(["model", "data", "classifier", "test ACC", "test macro-F1"], rows)


@dataclass(kw_only=True)
class ProbeConfig:
    """One linear probe (the command line's options but ``--out``).

    Args:
        model: A model name (random init) or a folder of the training recipe or of
            ``hybridnets.save_pretrained``.
        data: A MedMNIST ``.npz`` file.
        classifiers: Of :data:`CLASSIFIERS`.
        seeds: Training subsamples drawn (mean ± std over them).
        subsample: Share of the training split drawn per seed (1: all of it).
        cs: The grid of C, chosen on val accuracy.
        resize: Edge length images are resized to (None: the recipe's, else native).
        max_samples: At most this many samples per split (smoke tests).
        batch_size: Feature extraction batch.
        model_kwargs: Model constructor arguments.
        device: Where features are extracted.
    """

    model: str
    data: str
    classifiers: tuple[str, ...] = ("linear_svc", "logreg")
    seeds: int = 5
    subsample: float = 0.8
    cs: tuple[float, ...] = DEFAULT_CS
    resize: int | None = None
    max_samples: int | None = None
    batch_size: int = 256
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"


def run_probe(config: ProbeConfig) -> dict[str, Any]:
    """Extract features of the train, val and test splits and run the protocol; the result
    JSON (``results``: :func:`probe`'s, with the model, data, feature size and timings)."""
    torch.manual_seed(0)
    splits = {s: MedMNIST(config.data, s) for s in ("train", "val", "test")}
    ds = splits["train"]
    model, recipe = load_backbone(
        config.model, ds.spatial_dims, ds.in_chans, ds.num_classes, **config.model_kwargs
    )
    size = config.resize or recipe.get("resize")
    # A trained folder brings its input statistics; other models get the train split's.
    mean, std = (recipe.get("mean"), recipe.get("std")) if recipe else ds.channel_stats()
    for split in splits.values():
        split.set_normalization(mean, std)
    start = time.perf_counter()
    features = {
        s: extract_features(model, d, size, config.batch_size, config.max_samples, config.device)
        for s, d in splits.items()
    }
    extract_s = time.perf_counter() - start
    results = probe(features, config.classifiers, config.seeds, config.subsample, config.cs)
    return {
        "model": config.model,
        "data": ds.name,
        "feature_dim": int(features["train"][0].shape[1]),
        "protocol": f"{config.seeds} seeds, stratified {config.subsample:.0%} train subsample "
        "per seed, C chosen on val accuracy, mean ± std (ddof=1)",
        "extract_s": extract_s,
        "probe_s": time.perf_counter() - start - extract_s,
        "results": results,
    }


def parse_args(argv: Sequence[str] | None = None) -> tuple[ProbeConfig, str | None]:
    """The command line as a :class:`ProbeConfig` and the ``--out`` file (None: none)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="model name or a training checkpoint folder")
    p.add_argument("--data", required=True, help="MedMNIST .npz file")
    p.add_argument("--classifiers", default="linear_svc,logreg", help=f"of {sorted(CLASSIFIERS)}")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--subsample", type=float, default=0.8, help="train fraction drawn per seed")
    p.add_argument("--cs", default=",".join(map(str, DEFAULT_CS)), help="C grid")
    p.add_argument("--resize", type=int, default=None)
    p.add_argument("--max-samples", type=int, default=None, help="cap per split (smoke tests)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--model-kwargs", type=json.loads, default={})
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="write the result JSON here")
    args = p.parse_args(argv)
    config = ProbeConfig(
        model=args.model,
        data=args.data,
        classifiers=tuple(args.classifiers.split(",")),
        seeds=args.seeds,
        subsample=args.subsample,
        cs=tuple(float(c) for c in args.cs.split(",")),
        resize=args.resize,
        max_samples=args.max_samples,
        batch_size=args.batch_size,
        model_kwargs=args.model_kwargs,
        device=args.device,
    )
    return config, args.out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse arguments, extract features, run the probe, print a table (and write JSON)."""
    config, out = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    result = run_probe(config)
    print(markdown(config.model, result["data"], result["results"]))
    if out:
        atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
