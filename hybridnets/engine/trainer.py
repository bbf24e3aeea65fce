"""The one epoch loop under every recipe: resume → epochs (train, validate, history row,
selection and patience, state) → select the kept weights → the task's finish.

A recipe is a :class:`Task`: it draws an epoch's batches, takes one step, validates and
finishes (scores, saves, writes ``result.json``). The :class:`Trainer` owns everything between:
writing the run's settings to ``out_dir/run_config.json``, resuming an interrupted run
(mid-epoch too), the history row every recipe shares (``epoch``, ``train_loss``, ``train_s``,
``images_per_s``, ``time_s`` and the task's own entries), checkpoint selection on validation
scores with patience (and between the task's own model and its rivals: the same weights scored
another way, e.g. a fusion model's image path), the training state after every epoch and on
SIGTERM, and the progress bar.

    result = Trainer(task, config, state_path).fit(generator, stop, start)
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from tqdm.auto import tqdm

from hybridnets.engine.cli import write_run_config
from hybridnets.engine.config import result_free
from hybridnets.engine.distributed import Runtime, broadcast_module
from hybridnets.engine.engine import Engine
from hybridnets.engine.loop import Progress, run_epoch, save_run_state, start_progress
from hybridnets.engine.selection import is_better, loss_auc
from hybridnets.engine.signals import StopRequest

__all__ = ["TIMING_KEYS", "RecipeTask", "Task", "Trainer", "TrainerProgress"]

_logger = logging.getLogger(__name__)

TIMING_KEYS = ("train_s", "images_per_s", "time_s")
"""History entries that measure time, not results (they differ between two identical runs)."""


class Task(Protocol):
    """What a recipe gives the :class:`Trainer`.

    Attributes:
        runtime: One process or torchrun's group.
        engine: The optimisation step, EMA and state.
        steps_per_epoch: Global batches per epoch.
        batch_size: The global batch size.
        name: Shown on the progress bar (``"align convvit_n"``).
        architecture: The network's constructor arguments (its checkpoint's
            ``model_kwargs``); the training state keeps them and a run resumes only into the
            same network. None: not checked.
        rivals: Other ways of scoring the same weights that the task reports every epoch
            beside its own, as ``val_<name>_loss`` / ``val_<name>_auc`` history entries (a
            fusion model's image path alone: ``"image"``). Each keeps its own best epoch and
            weights under the selector; the run keeps whichever scores best on validation
            (ties: the task's own) and ``finish`` finds which in ``progress.kept``. Empty:
            none.
    """

    runtime: Runtime
    engine: Engine
    steps_per_epoch: int
    batch_size: int
    name: str
    architecture: dict[str, Any] | None
    rivals: tuple[str, ...]

    def batches(self, generator: torch.Generator) -> Sequence[torch.Tensor]:
        """This epoch's global batches of sample indices (a draw from ``generator``)."""
        ...

    def step(self, batch: torch.Tensor, generator: torch.Generator) -> float:
        """One optimisation step on ``batch``; the global batch's loss."""
        ...

    def validate(self, epoch: int) -> dict[str, float]:
        """This epoch's entries of the history row (``val_loss``, ``val_auc``, ...; empty when
        the task has no validation data)."""
        ...

    def finish(self, progress: TrainerProgress, wall_s: float) -> dict[str, Any]:
        """Score, save and report the weights the engine holds (the selected ones)."""
        ...


class RecipeTask:
    """What a recipe's task takes from its config: ``name`` (``"<verb> <model>"``, the
    progress bar's label) and ``batch_size``, and ``architecture`` from its record; no
    rivals unless a subclass names them. Subclasses set ``verb`` and hold ``config`` and
    ``recipe``."""

    verb: ClassVar[str] = ""
    rivals: tuple[str, ...] = ()
    config: Any

    @property
    def name(self) -> str:
        return f"{self.verb} {self.config.model}".strip()

    @property
    def batch_size(self) -> int:
        return self.config.batch_size

    @property
    def architecture(self) -> dict[str, Any] | None:
        """The ``model_kwargs`` of the recipe's record (``self.recipe``)."""
        return self.recipe["model_kwargs"]


@dataclass
class TrainerProgress(Progress):
    """:class:`~hybridnets.engine.loop.Progress` with the selector's state: the best validation
    score, its epoch, epochs since any score improved, and (selectors other than ``last``) its
    weights; the same for each of the task's rivals (``rivals``: ``{name: {"best": score,
    "best_epoch": epoch}}``, ``rival_states``: ``{name: weights}``); and, once training ends,
    which one the run keeps (``kept``: ``""``, the task's own, or a rival's name; ``best``,
    ``best_epoch`` and ``best_state`` are then the kept one's)."""

    TENSORS: ClassVar[tuple[str, ...]] = ("epoch_rng", "best_state", "rival_states")

    best: dict[str, float] | None = None
    best_epoch: int = 0
    stale: int = 0
    best_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    rivals: dict[str, dict[str, Any]] = field(default_factory=dict)
    rival_states: dict[str, dict[str, torch.Tensor]] | None = field(default=None, repr=False)
    kept: str = ""


def _prefix(rival: str = "") -> str:
    """The history entries of the task's own scores (``val_``) or of a rival's."""
    return f"val_{rival}_" if rival else "val_"


def _score(row: dict[str, float], rival: str = "") -> dict[str, float]:
    """The selector's view of a history row (the task's own scores, or ``rival``'s)."""
    p = _prefix(rival)
    score = {"loss": row.get(f"{p}loss", float("nan")), "auc": row.get(f"{p}auc", float("nan"))}
    if f"{p}loss_auc" in row:
        score["loss_auc"] = row[f"{p}loss_auc"]
    return score


class Trainer:
    """Runs a :class:`Task` for ``config.epochs`` epochs.

    Args:
        task: The recipe's task.
        config: The run's settings: ``epochs``, ``progress``, ``resume``, and ``select`` /
            ``patience`` where the recipe has them (else: keep the last epoch, no patience).
        state_path: Where the training state is saved (removed when the run completes).
    """

    def __init__(self, task: Task, config: Any, state_path: Path) -> None:
        self.task, self.config, self.state_path = task, config, Path(state_path)
        self.resume_free = result_free(type(config))  # settings a resumed run may change
        self.select: str = getattr(config, "select", "last")
        self.patience: int | None = getattr(config, "patience", None)

    def _save(self, progress: TrainerProgress, generator: torch.Generator) -> None:
        task = self.task
        save_run_state(
            self.state_path, task.runtime, self.config, progress, task.engine, generator,
            task.architecture,
        )  # fmt: skip

    def _epoch(
        self, epoch: int, progress: TrainerProgress, generator: torch.Generator, stop: StopRequest
    ) -> dict[str, float]:
        """Train one epoch and validate: the history row (without ``time_s``)."""
        task, tic = self.task, time.perf_counter()
        train_loss = run_epoch(
            progress,
            task.batches,
            lambda batch: task.step(batch, generator),
            generator,
            stop,
            task.runtime,
            lambda: self._save(progress, generator),
        )
        train_s = time.perf_counter() - tic
        row = {"epoch": epoch, "train_loss": train_loss, "train_s": train_s}
        row["images_per_s"] = task.steps_per_epoch * task.batch_size / train_s
        self._sync_eval_model()
        return row | task.validate(epoch)

    def _sync_eval_model(self) -> None:
        """Under torchrun (not FSDP, whose shards are one model), evaluate and keep rank 0's
        copy of the weights being evaluated on every rank."""
        if not self.task.engine.fsdp:
            broadcast_module(self.task.engine.eval_model, self.task.runtime)

    def _scored(self, row: dict[str, float]) -> tuple[str, ...]:
        """The task's rivals that ``row`` scores."""
        return tuple(r for r in self.task.rivals if f"{_prefix(r)}loss" in row)

    def _select(self, epoch: int, progress: TrainerProgress) -> None:
        """Keep ``epoch``'s weights for the task's own model and for each rival whose validation
        score is its best so far; count the epoch stale when none is."""
        row = progress.history[-1]
        own = is_better(self.select, _score(row), progress.best)
        rivals = [
            r
            for r in self._scored(row)
            if is_better(self.select, _score(row, r), progress.rivals.get(r, {}).get("best"))
        ]
        weights = None
        if (own or rivals) and self.select != "last":  # one copy, however many improve
            weights = copy.deepcopy(self.task.engine.eval_state_dict())
        if own:
            progress.best, progress.best_epoch, progress.best_state = _score(row), epoch, weights
        for rival in rivals:
            progress.rivals[rival] = {"best": _score(row, rival), "best_epoch": epoch}
            if weights is not None:
                progress.rival_states = (progress.rival_states or {}) | {rival: weights}
        progress.stale = 0 if own or rivals else progress.stale + 1

    def _keep(self, progress: TrainerProgress) -> None:
        """Make the best of the task's own model and its rivals the kept one: a rival replaces
        the task's own when its best validation score is better (the selector's criterion;
        under ``last`` the epoch's ``val_loss_auc``)."""
        criterion = "val_loss_auc" if self.select == "last" else self.select
        kept, best = "", progress.best
        for rival, held in progress.rivals.items():
            if best is None or (
                criterion == "val_loss_auc"
                and not ("loss_auc" in best and "loss_auc" in held["best"])
            ):
                continue  # under `last` without validation AUCs: nothing to compare
            if is_better(criterion, held["best"], best):
                kept, best = rival, held["best"]
        if kept:
            progress.kept, progress.best = kept, best
            progress.best_epoch = progress.rivals[kept]["best_epoch"]
            if progress.rival_states is not None:
                progress.best_state = progress.rival_states[kept]
            _logger.info("keeping %s (epoch %d): it scores best", kept, progress.best_epoch)

    def fit(self, generator: torch.Generator, stop: StopRequest, start: float) -> dict[str, Any]:
        """Resume or start, train, load the selected weights, and return ``task.finish``'s
        result. ``start`` is when the run began (``time.perf_counter()``)."""
        task, config = self.task, self.config
        if task.runtime.is_main:  # the data is read and checked: this run's settings, to re-run
            write_run_config(config, config.out_dir)
        progress = start_progress(
            self.state_path, config, self.resume_free, task.engine, generator, task.runtime,
            TrainerProgress, task.architecture,
        )  # fmt: skip
        done = self.patience is not None and progress.stale >= self.patience
        epochs = range(progress.epoch + 1, config.epochs + 1) if not done else range(0)
        show = config.progress and task.runtime.is_main
        bar = tqdm(epochs, desc=task.name, disable=not show)
        for epoch in bar:
            row = self._epoch(epoch, progress, generator, stop)
            progress.elapsed_s += time.perf_counter() - start
            start = time.perf_counter()
            progress.history.append(row | {"time_s": progress.elapsed_s})
            for p in ("val_", *map(_prefix, task.rivals)):  # the val_loss_auc selector's score
                if f"{p}auc" in row:
                    progress.history[-1][f"{p}loss_auc"] = loss_auc(progress.history, prefix=p)
            progress.epoch = epoch
            self._select(epoch, progress)
            bar.set_postfix(loss=f"{row['train_loss']:.4f}")
            if task.runtime.is_main:
                _logger.info("epoch %d/%d %s", epoch, config.epochs, progress.history[-1])
            self._save(progress, generator)
            if self.patience is not None and progress.stale >= self.patience:
                _logger.info("early stop at epoch %d (best %d)", epoch, progress.best_epoch)
                break
        progress.elapsed_s += time.perf_counter() - start
        self._keep(progress)
        if progress.best_state is not None:
            task.engine.load_eval_state_dict(progress.best_state)
        self._sync_eval_model()
        result = task.finish(progress, progress.elapsed_s)
        if task.runtime.is_main:
            self.state_path.unlink(missing_ok=True)
        return result
