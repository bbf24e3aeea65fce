"""The one training step every recipe shares: parallelism, AMP, AdamW + schedule, clipping, EMA.

A recipe (supervised, self-supervised, contrastive) supplies only ``loss_fn(model) -> loss`` per
batch; the engine owns the data-parallel wrapping (DDP or FSDP2 under torchrun), the optimiser,
the schedule, bf16 autocast, gradient clipping, timm's EMA of the weights and their state for
checkpoints and resume. The same code runs in one process or many.

    engine = Engine(model, runtime, lr=5e-4, weight_decay=0.05, total_steps=900, warmup_steps=60)
    for x, y in batches:
        engine.step(lambda m: F.cross_entropy(m(x), y))
    evaluate(engine.eval_model)
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import torch
from timm.utils import ModelEmaV3
from torch import Tensor, nn

from hybridnets.engine.distributed import Runtime
from hybridnets.engine.optim import build_optimizer, warmup_cosine
from hybridnets.engine.parallel import parallelize

__all__ = ["Engine"]


class Engine:
    """Optimises ``model`` one step at a time, in one process or data-parallel across many.

    Args:
        model: The module to train (moved to the runtime's device).
        runtime: Where it trains (:func:`hybridnets.engine.setup_runtime`), or a plain device.
        lr: Peak learning rate of AdamW.
        weight_decay: AdamW weight decay (timm's groups: not on norms, biases, no_weight_decay()).
        total_steps: Length of the cosine schedule.
        warmup_steps: Linear warm-up steps.
        min_lr_ratio: Final learning rate as a fraction of ``lr``.
        layer_decay: Layer-wise LR decay through ``model.group_matcher()`` (None: off).
        clip_grad: Clip the global gradient norm to this (None: off).
        ema_decay: Keep timm's EMA of the weights with warm-up (None or 0: off).
        amp: bf16 autocast (CUDA only; ignored on CPU).
        fsdp: Under torchrun, shard each stage with FSDP2 instead of DDP (no EMA with it).
        grad_checkpointing: Recompute activations in backward (``set_grad_checkpointing``).
    """

    def __init__(
        self,
        model: nn.Module,
        runtime: Runtime | torch.device,
        lr: float,
        weight_decay: float,
        total_steps: int,
        warmup_steps: int = 1,
        min_lr_ratio: float = 0.01,
        layer_decay: float | None = None,
        clip_grad: float | None = None,
        ema_decay: float | None = None,
        amp: bool = True,
        fsdp: bool = False,
        grad_checkpointing: bool = False,
    ) -> None:
        self.runtime = runtime if isinstance(runtime, Runtime) else Runtime(runtime)
        self.device = self.runtime.device
        self.amp = amp and self.device.type == "cuda"
        self.fsdp = fsdp and self.runtime.distributed
        if self.fsdp and ema_decay:
            raise ValueError("EMA of an FSDP-sharded model is not supported: set `ema_decay=None`")
        if grad_checkpointing:
            if not hasattr(model, "set_grad_checkpointing"):
                raise ValueError(
                    f"{type(model).__name__} has no set_grad_checkpointing(); "
                    "set `grad_checkpointing=False`"
                )
            model.set_grad_checkpointing(True)
        self.module = model.to(self.device)
        self.ema = ModelEmaV3(self.module, decay=ema_decay, use_warmup=True) if ema_decay else None
        self.model = parallelize(self.module, self.runtime, fsdp=self.fsdp, amp=self.amp)
        self.clip_grad = clip_grad
        self.optimizer = build_optimizer(self.module, lr, weight_decay, layer_decay)
        self.scheduler = warmup_cosine(self.optimizer, warmup_steps, total_steps, min_lr_ratio)
        self.steps = 0

    @property
    def eval_model(self) -> nn.Module:
        """The weights to evaluate and save: the EMA when kept, else the trained model."""
        return self.ema.module if self.ema is not None else self.module

    def autocast(self) -> AbstractContextManager:
        """bf16 autocast on CUDA when ``amp``; a no-op otherwise (use it for evaluation too)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def step(self, loss_fn: Callable[[nn.Module], Tensor]) -> float:
        """One optimisation step on the loss ``loss_fn(model)`` (computed under autocast).

        ``model`` is the wrapped model: its forward synchronises gradients across ranks, which
        average them, so with one global batch split over ranks the loss of each rank should be
        its share of the global mean (see the supervised recipe).

        Returns:
            This rank's loss as a float.
        """
        self.model.train()
        with self.autocast():
            loss = loss_fn(self.model).float()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip_grad is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad)
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.module, step=self.steps)
        self.steps += 1
        return loss.item()

    def model_state_dict(self) -> dict[str, Tensor]:
        """Full (unsharded) weights of the trained model; under FSDP gathered to rank 0's CPU
        memory (the other ranks get an empty dict; call it on every rank)."""
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                get_model_state_dict,
            )

            options = StateDictOptions(full_state_dict=True, cpu_offload=True)
            return get_model_state_dict(self.model, options=options)
        return self.module.state_dict()

    def eval_state_dict(self) -> dict[str, Tensor]:
        """Full weights of :attr:`eval_model` (the EMA when kept); see :meth:`model_state_dict`."""
        if self.ema is not None:
            return self.ema.module.state_dict()
        return self.model_state_dict()

    def load_eval_state_dict(self, state: dict[str, Tensor]) -> None:
        """Load full weights into :attr:`eval_model` (sharding them again under FSDP)."""
        if self.ema is not None:
            self.ema.module.load_state_dict(state)
        elif self.fsdp:
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                set_model_state_dict,
            )

            # rank 0 holds the full weights (see model_state_dict); the others get them from it
            options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
            set_model_state_dict(self.model, dict(state), options=options)
        else:
            self.module.load_state_dict(state)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly: weights, optimiser, schedule, EMA."""
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                get_optimizer_state_dict,
            )

            # an evaluation forward leaves the root unsharded (FSDP2 reshards it after backward
            # only), and the optimiser's state is keyed by the sharded parameters
            self.model.reshard()
            options = StateDictOptions(full_state_dict=True, cpu_offload=True)
            optimizer = get_optimizer_state_dict(self.model, self.optimizer, options=options)
        else:
            optimizer = self.optimizer.state_dict()
        state = {
            "model": self.model_state_dict(),
            "optimizer": optimizer,
            "scheduler": self.scheduler.state_dict(),
            "steps": self.steps,
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (same model and settings)."""
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                set_model_state_dict,
                set_optimizer_state_dict,
            )

            options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=False)
            set_model_state_dict(self.model, dict(state["model"]), options=options)
            set_optimizer_state_dict(
                self.model, self.optimizer, copy.deepcopy(state["optimizer"]), options=options
            )
        else:
            self.module.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.steps = int(state["steps"])
