"""Parallelism applied to a model in one place (torchtitan's ``parallelize``): DDP, or FSDP2
``fully_shard`` per stage, with SyncBatchNorm on GPUs. The training loop never asks which.

    model = parallelize(model, runtime)               # DDP under torchrun, as-is otherwise
    model = parallelize(model, runtime, fsdp=True)    # shard each stage, then the root
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from hybridnets.engine.distributed import Runtime

__all__ = ["has_batchnorm", "parallelize", "shard_units"]

_logger = logging.getLogger(__name__)


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def shard_units(model: nn.Module) -> list[nn.Module]:
    """The modules FSDP2 shards one by one: each stage of a timm-style model (``stages`` or
    ``layers``), else each top-level child that holds parameters."""
    for name in ("stages", "layers", "blocks"):
        group = getattr(model, name, None)
        if isinstance(group, nn.Sequential | nn.ModuleList) and len(group):
            return list(group)
    return [m for m in model.children() if any(True for _ in m.parameters())]


def parallelize(
    model: nn.Module, runtime: Runtime, fsdp: bool = False, amp: bool = False
) -> nn.Module:
    """Wrap ``model`` (already on ``runtime.device``) for data-parallel training.

    A world of one gets the model back unchanged. Under torchrun: BatchNorm becomes
    SyncBatchNorm on CUDA (statistics over the global batch; torch's SyncBatchNorm is GPU-only,
    so on CPU each rank normalises with its own shard's statistics), then DDP — or with
    ``fsdp`` FSDP2's ``fully_shard`` on each of :func:`shard_units` and the root, with a bf16
    mixed-precision policy when ``amp`` (parameters in bf16, gradients reduced in fp32).
    """
    if not runtime.distributed:
        return model
    if has_batchnorm(model):
        if runtime.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        elif runtime.is_main:
            _logger.info("CPU run: BatchNorm statistics are per rank (SyncBatchNorm is GPU-only)")
    if fsdp:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        policy = (
            MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
            if amp
            else MixedPrecisionPolicy()
        )
        for unit in shard_units(model):
            fully_shard(unit, mp_policy=policy)
        fully_shard(model, mp_policy=policy)
        return model
    device_ids = [runtime.device.index] if runtime.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
