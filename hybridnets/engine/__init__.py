"""The one training engine under every recipe (supervised ``train``, self-supervised ``pretrain``,
contrastive ``align``): runtime (one process or torchrun's process group), parallelism (DDP / FSDP2) applied
in one place, AdamW on timm's parameter groups with warm-up + cosine, bf16 autocast, gradient
clipping, timm's EMA, resumable training state and clean stops on SIGTERM.

    from hybridnets.engine import Engine, setup_runtime, seed_everything
"""

from hybridnets.engine.distributed import (
    Runtime,
    barrier,
    batch_part,
    gather_rows,
    mean_over_ranks,
    setup_runtime,
    shard_index,
    teardown,
)
from hybridnets.engine.engine import Engine
from hybridnets.engine.loop import Progress, load_run_state, run_epoch, save_run_state
from hybridnets.engine.optim import build_optimizer, param_groups, warmup_cosine
from hybridnets.engine.outputs import check_out_dir
from hybridnets.engine.parallel import parallelize
from hybridnets.engine.runtime import resolve_device, rng_state, seed_everything, set_rng_state
from hybridnets.engine.signals import StopRequest, TrainingStopped, stop_requests
from hybridnets.engine.state import load_state, save_state

__all__ = [
    "Engine",
    "Progress",
    "Runtime",
    "StopRequest",
    "TrainingStopped",
    "barrier",
    "batch_part",
    "build_optimizer",
    "check_out_dir",
    "gather_rows",
    "load_run_state",
    "load_state",
    "mean_over_ranks",
    "parallelize",
    "param_groups",
    "resolve_device",
    "rng_state",
    "run_epoch",
    "save_run_state",
    "save_state",
    "seed_everything",
    "set_rng_state",
    "setup_runtime",
    "shard_index",
    "stop_requests",
    "teardown",
    "warmup_cosine",
]
