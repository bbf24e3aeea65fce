"""One process or many: the runtime a recipe runs in, from ``torchrun``'s environment.

Started by ``torchrun --nproc_per_node N`` (or ``--nnodes ... --rdzv-backend c10d``), a run
joins the process group the launcher describes (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``): NCCL with one GPU per process on CUDA, gloo on CPU. Started
as a plain process it is a world of one and nothing here talks to anyone.

    runtime = setup_runtime("auto")
    probs = gather_rows(local_probs, n, runtime)   # all n rows, in their order
    teardown(runtime)
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from hybridnets.engine.runtime import resolve_device

__all__ = [
    "Runtime",
    "barrier",
    "batch_part",
    "broadcast_module",
    "gather_rows",
    "launched_as_main",
    "mean_over_ranks",
    "setup_runtime",
    "shard_index",
    "teardown",
]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """Where this process runs and its place among the others.

    Attributes:
        device: This process's device (``cuda:LOCAL_RANK`` under torchrun on GPUs).
        rank: Global rank (0 writes files and shows progress).
        world_size: Number of processes.
        owns_group: This runtime initialised the process group (and tears it down).
    """

    device: torch.device
    rank: int = 0
    world_size: int = 1
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """Whether this process writes files, logs progress and saves checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launched_as_main() -> bool:
    """Whether this process is rank 0 of a torchrun launch (or not launched by torchrun),
    known before the process group is joined."""
    return int(os.environ.get("RANK", "0")) == 0


def setup_runtime(device: str = "auto") -> Runtime:
    """Join torchrun's process group when launched by it, else a world of one on ``device``.

    Raises:
        ValueError: ``device`` names CUDA on a machine without it.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Runtime(resolve_device(device))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    target = resolve_device(device)
    if target.type == "cuda":
        target = torch.device("cuda", local_rank)
        torch.cuda.set_device(target)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group("nccl" if target.type == "cuda" else "gloo")
    runtime = Runtime(target, dist.get_rank(), dist.get_world_size(), owns)
    _logger.info("rank %d of %d on %s", runtime.rank, runtime.world_size, runtime.device)
    return runtime


def teardown(runtime: Runtime) -> None:
    """Leave the process group if this runtime created it."""
    if runtime.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(runtime: Runtime) -> None:
    """Wait for every rank (a no-op in a world of one)."""
    if runtime.distributed:
        dist.barrier()


def mean_over_ranks(value: float, runtime: Runtime) -> float:
    """The mean of a scalar over all ranks (itself in a world of one)."""
    if not runtime.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=runtime.device)
    dist.all_reduce(t)
    return t.item() / runtime.world_size


def broadcast_module(module: torch.nn.Module, runtime: Runtime) -> None:
    """Give every rank rank 0's parameters and buffers of ``module`` (in place): what is
    evaluated is then what rank 0 saves (each rank's EMA copy tracks its own BatchNorm
    statistics between two synchronisations)."""
    if not runtime.distributed:
        return
    with torch.no_grad():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


def batch_part(n: int, runtime: Runtime) -> slice:
    """This rank's contiguous part of a global batch of ``n`` (sizes differ by at most one)."""
    per, extra = divmod(n, runtime.world_size)
    start = runtime.rank * per + min(runtime.rank, extra)
    return slice(start, start + per + (runtime.rank < extra))


def shard_index(n: int, runtime: Runtime) -> torch.Tensor:
    """This rank's indices of ``n`` items: a contiguous block of ``ceil(n / world_size)``,
    padded with the last index so that every rank runs the same number of forwards (FSDP
    needs that); :func:`gather_rows` drops the padding."""
    per = -(-n // runtime.world_size)
    index = torch.arange(runtime.rank * per, (runtime.rank + 1) * per)
    return index.clamp_max(n - 1)


def gather_rows(rows: torch.Tensor, n: int, runtime: Runtime) -> torch.Tensor:
    """The ``n`` rows of all ranks in their original order, from each rank's ``rows`` for
    :func:`shard_index` — so metrics on them are exact, not an average of per-rank metrics."""
    if not runtime.distributed:
        return rows[:n]
    parts = [torch.empty_like(rows) for _ in range(runtime.world_size)]
    dist.all_gather(parts, rows.contiguous())
    return torch.cat(parts)[:n]
