"""The one training engine under every recipe (supervised ``train``; ``pretrain`` and ``align``
to come): runtime (device, threads, seeds), AdamW on timm's parameter groups with warm-up +
cosine, bf16 autocast, gradient clipping, timm's EMA, and resumable training state.

    from hybridnets.engine import Engine, resolve_device, seed_everything
"""

from hybridnets.engine.engine import Engine
from hybridnets.engine.optim import build_optimizer, param_groups, warmup_cosine
from hybridnets.engine.runtime import resolve_device, rng_state, seed_everything, set_rng_state
from hybridnets.engine.state import load_state, save_state

__all__ = [
    "Engine",
    "build_optimizer",
    "load_state",
    "param_groups",
    "resolve_device",
    "rng_state",
    "save_state",
    "seed_everything",
    "set_rng_state",
    "warmup_cosine",
]
