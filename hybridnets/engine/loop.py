"""The epoch loop every recipe shares: a resumable pass over the batches, and the run state that
makes it resumable (engine, RNG, the recipe's bookkeeping), checked against the run's settings.

A recipe supplies the epoch's order (a draw from the run's generator) and one step; the loop
replays the order when a run resumes mid-epoch, saves the state and raises
:class:`~hybridnets.engine.signals.TrainingStopped` on SIGTERM/SIGINT, and returns the mean loss.

    progress = load_run_state(path, config, RESUME_FREE, engine, generator, Progress)
    loss = run_epoch(progress, draw, lambda batch: step(batch), generator, stop, runtime, save)
    save_run_state(path, runtime, config, progress, engine, generator)
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch

from hybridnets.engine.cli import RUN_CONFIG
from hybridnets.engine.distributed import (
    Runtime,
    barrier,
    launched_as_main,
    setup_runtime,
    teardown,
)
from hybridnets.engine.engine import Engine
from hybridnets.engine.outputs import check_finished, check_out_dir, run_lock
from hybridnets.engine.runtime import rng_state, set_rng_state
from hybridnets.engine.signals import StopRequest, TrainingStopped, stop_requests
from hybridnets.engine.state import load_state, save_state

__all__ = [
    "Progress",
    "changed_settings",
    "engine_for",
    "launch_run",
    "load_run_state",
    "run_epoch",
    "save_run_state",
    "start_progress",
    "steps_per_epoch",
]

_logger = logging.getLogger(__name__)
P = TypeVar("P", bound="Progress")


@dataclass
class Progress:
    """A run's bookkeeping across epochs, saved with the engine state.

    ``step`` > 0 marks a state saved mid-epoch: ``step`` batches of epoch ``epoch + 1`` are done,
    with training losses ``losses``, and ``epoch_rng`` is the generator at that epoch's start.
    Recipes subclass it for their own fields; tensor fields are listed in ``TENSORS`` and saved
    beside the JSON ones.
    """

    TENSORS: ClassVar[tuple[str, ...]] = ("epoch_rng",)

    epoch: int = 0
    step: int = 0
    losses: list[float] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    elapsed_s: float = 0.0
    epoch_rng: torch.Tensor | None = field(default=None, repr=False)

    def to_json(self) -> str:
        """The non-tensor fields as JSON."""
        return json.dumps(
            {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.TENSORS}
        )


def save_run_state(
    path: Path,
    runtime: Runtime,
    config: Any,
    progress: Progress,
    engine: Engine,
    generator: torch.Generator,
    architecture: Mapping[str, Any] | None = None,
) -> None:
    """Write settings, the network's ``architecture`` (its constructor arguments, when given),
    progress, engine and RNG to ``path`` (rank 0, atomically); every rank takes part (the
    engine state is collective under FSDP) and waits until it is on disk."""
    state = {
        "config": json.dumps(asdict(config)),
        "architecture": json.dumps(architecture),
        "progress": progress.to_json(),
        "engine": engine.state_dict(),
        "rng": rng_state(generator),
    }
    for name in progress.TENSORS:
        if getattr(progress, name) is not None:
            state[name] = getattr(progress, name)
    if runtime.is_main:
        save_state(path, state)
    barrier(runtime)


def changed_settings(
    saved: Mapping[str, Any], current: Mapping[str, Any], free: Collection[str] = ()
) -> dict[str, tuple[Any, Any]]:
    """The settings of ``current`` (a config as a dict) that ``saved`` holds otherwise, as
    ``{name: (saved, current)}``; names in ``free`` may differ."""
    return {k: (saved.get(k), v) for k, v in current.items() if k not in free and saved.get(k) != v}


def load_run_state(
    path: Path,
    config: Any,
    resume_free: Sequence[str],
    engine: Engine,
    generator: torch.Generator,
    progress_cls: type[P],
    architecture: Mapping[str, Any] | None = None,
) -> P:
    """Load ``path`` into ``engine`` and ``generator`` and return its progress; refuse a state
    saved with other settings than ``config`` (fields in ``resume_free`` may differ) or, when
    both record one, for another ``architecture`` (the same settings build another network
    when a model's defaults changed since the run began)."""
    state = load_state(path)
    saved = json.loads(state["config"])
    current = json.loads(json.dumps(asdict(config)))  # as saved: tuples are lists in JSON
    differ = changed_settings(saved, current, resume_free)
    fix = "use another `out_dir`, delete the file, or set `resume=False` to start over"
    if differ:
        shown = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in sorted(differ.items()))
        raise ValueError(f"{path} holds an interrupted run with other settings ({shown}); {fix}")
    built = json.loads(state.get("architecture", "null"))  # states before 0.2.0 record none
    now = json.loads(json.dumps(architecture))
    if built is not None and now is not None and built != now:
        raise ValueError(
            f"{path} holds an interrupted run of another network: it was built with {built}, "
            f"this version of hybridnets builds {now} from the same settings; finish it with "
            f"the version that started it, or {fix}"
        )
    engine.load_state_dict(state["engine"])
    set_rng_state(generator, state["rng"])
    progress = progress_cls(**json.loads(state["progress"]))
    for name in progress_cls.TENSORS:
        setattr(progress, name, state.get(name))
    where = (
        f"step {progress.step} of epoch {progress.epoch + 1}"
        if progress.step
        else f"epoch {progress.epoch}"
    )
    _logger.info("resuming %s after %s", path.parent, where)
    return progress


def run_epoch(
    progress: Progress,
    draw: Callable[[torch.Generator], Sequence[torch.Tensor]],
    step: Callable[[torch.Tensor], float],
    generator: torch.Generator,
    stop: StopRequest,
    runtime: Runtime,
    save: Callable[[], None],
) -> float:
    """One pass over the batches ``draw(generator)`` returns, from ``progress.step`` when the
    run resumed mid-epoch (the draw is replayed from ``progress.epoch_rng``, then the generator
    continues where it was saved). On a stop request, records the position, calls ``save()``
    and raises :class:`TrainingStopped`; returns the mean of the step losses."""
    resumed_rng = None
    if progress.step:
        resumed_rng = generator.get_state()
        generator.set_state(progress.epoch_rng)
    epoch_rng = generator.get_state()
    batches = draw(generator)
    if resumed_rng is not None:
        generator.set_state(resumed_rng)
    losses = list(progress.losses)
    for i in range(progress.step, len(batches)):
        losses.append(step(batches[i]))
        if i + 1 < len(batches) and stop.now(runtime):
            progress.step, progress.losses, progress.epoch_rng = i + 1, losses, epoch_rng
            save()
            raise TrainingStopped(
                f"stopped by {stop.signal or 'a stop request'} in epoch {progress.epoch + 1} "
                f"after step {i + 1}; run the same command again to resume"
            )
    progress.step, progress.losses, progress.epoch_rng = 0, [], None
    return float(np.mean(losses))


def launch_run(
    config: Any,
    body: Callable[[Any, Runtime, StopRequest, float], dict],
    folders: Sequence[str] = (),
    files: Sequence[str] = (),
) -> dict:
    """Run a recipe's ``body(config, runtime, stop, start)``: first check that ``folders`` and
    ``files`` can be written under ``config.out_dir`` (before minutes of training, not at the
    first save), hold the folder's lock (a second run into it is refused), refuse a folder
    that holds a finished run unless ``config.overwrite``, set ``config.num_threads``, set up
    the runtime (one process or torchrun's
    group) and SIGTERM/SIGINT handling, and tear the process group down however it ends."""
    start = time.perf_counter()
    check_out_dir(config.out_dir, folders=folders, files=(*files, RUN_CONFIG))
    # torchrun's ranks share one folder: rank 0 holds its lock
    with run_lock(config.out_dir) if launched_as_main() else contextlib.nullcontext():
        check_finished(config.out_dir, config.overwrite)
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        runtime = setup_runtime(config.device)
        try:
            with stop_requests() as stop:
                return body(config, runtime, stop, start)
        finally:
            teardown(runtime)


def start_progress(
    path: Path,
    config: Any,
    resume_free: Sequence[str],
    engine: Engine,
    generator: torch.Generator,
    runtime: Runtime,
    progress_cls: type[P],
    architecture: Mapping[str, Any] | None = None,
) -> P:
    """The progress to start from: the saved one when ``config.resume`` and ``path`` exists
    (see :func:`load_run_state`), else a fresh one (an old state is then deleted)."""
    if config.resume and path.is_file():
        return load_run_state(
            path, config, resume_free, engine, generator, progress_cls, architecture
        )
    if path.is_file() and runtime.is_main:
        path.unlink()
    return progress_cls()


def steps_per_epoch(n: int, batch_size: int, world_size: int, drop_last: bool = False) -> int:
    """Global batches per epoch over ``n`` samples. The last incomplete batch is kept unless
    ``drop_last`` or it is too small for BatchNorm (one sample) or for every rank to get one.

    Raises:
        ValueError: Not one batch fits.
    """
    steps = n // batch_size
    if not drop_last:
        steps += n % batch_size >= max(2, world_size)
    if steps == 0:
        need = batch_size if drop_last else max(2, world_size)
        raise ValueError(
            f"training needs at least {need} samples, got {n}"
            + (f" (one per each of {world_size} processes)" if world_size > 2 else "")
        )
    return steps


def engine_for(model: torch.nn.Module, runtime: Runtime, config: Any, steps: int) -> Engine:
    """The :class:`Engine` a recipe config describes (its optimisation, run and parallelism
    parts: :mod:`hybridnets.engine.config`): ``epochs`` × ``steps`` per epoch."""
    return Engine(
        model,
        runtime,
        lr=config.lr,
        weight_decay=config.weight_decay,
        total_steps=steps * config.epochs,
        warmup_steps=round(config.warmup_epochs * steps),
        min_lr_ratio=config.min_lr_ratio,
        layer_decay=config.layer_decay,
        clip_grad=config.clip_grad,
        ema_decay=config.ema_decay,
        amp=config.amp,
        fsdp=config.fsdp,
        grad_checkpointing=config.grad_checkpointing,
    )
