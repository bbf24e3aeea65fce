"""The one training step every recipe shares: AMP, AdamW + schedule, clipping and EMA.

A recipe (supervised, self-supervised, contrastive) supplies only ``loss_fn(model) -> loss`` per
batch; the engine owns the optimiser, the schedule, bf16 autocast, gradient clipping, timm's EMA
of the weights and their state for checkpoints and resume.

    engine = Engine(model, device, lr=5e-4, weight_decay=0.05, total_steps=900, warmup_steps=60)
    for x, y in batches:
        engine.step(lambda m: F.cross_entropy(m(x), y))
    evaluate(engine.eval_model)
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import torch
from timm.utils import ModelEmaV3
from torch import Tensor, nn

from hybridnets.engine.optim import build_optimizer, warmup_cosine

__all__ = ["Engine"]


class Engine:
    """Optimises ``model`` on ``device`` one step at a time.

    Args:
        model: The module to train (moved to ``device``).
        device: Where it trains.
        lr: Peak learning rate of AdamW.
        weight_decay: AdamW weight decay (timm's groups: not on norms, biases, no_weight_decay()).
        total_steps: Length of the cosine schedule.
        warmup_steps: Linear warm-up steps.
        min_lr_ratio: Final learning rate as a fraction of ``lr``.
        layer_decay: Layer-wise LR decay through ``model.group_matcher()`` (None: off).
        clip_grad: Clip the global gradient norm to this (None: off).
        ema_decay: Keep timm's EMA of the weights with warm-up (None or 0: off).
        amp: bf16 autocast (CUDA only; ignored on CPU).
    """

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        lr: float,
        weight_decay: float,
        total_steps: int,
        warmup_steps: int = 1,
        min_lr_ratio: float = 0.01,
        layer_decay: float | None = None,
        clip_grad: float | None = None,
        ema_decay: float | None = None,
        amp: bool = True,
    ) -> None:
        self.device = device
        self.model = model.to(device)
        self.amp = amp and device.type == "cuda"
        self.clip_grad = clip_grad
        self.optimizer = build_optimizer(self.model, lr, weight_decay, layer_decay)
        self.scheduler = warmup_cosine(self.optimizer, warmup_steps, total_steps, min_lr_ratio)
        self.ema = ModelEmaV3(self.model, decay=ema_decay, use_warmup=True) if ema_decay else None
        self.steps = 0

    @property
    def eval_model(self) -> nn.Module:
        """The weights to evaluate and save: the EMA when kept, else the trained model."""
        return self.ema.module if self.ema is not None else self.model

    def autocast(self) -> AbstractContextManager:
        """bf16 autocast on CUDA when ``amp``; a no-op otherwise (use it for evaluation too)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def step(self, loss_fn: Callable[[nn.Module], Tensor]) -> float:
        """One optimisation step on the loss ``loss_fn(model)`` (computed under autocast).

        Returns:
            The loss as a float.
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
            self.ema.update(self.model, step=self.steps)
        self.steps += 1
        return loss.item()

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly: weights, optimiser, schedule, EMA."""
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "steps": self.steps,
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (same model and settings)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.steps = int(state["steps"])
