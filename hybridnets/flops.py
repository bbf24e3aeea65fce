"""Parameter and multiply-accumulate (MAC) counts with attention counted.

Convention: one fused multiply-add is one MAC. fvcore's ``FlopCountAnalysis`` counts MACs and
calls them "flops"; the ConvNeXt, Swin and timm tables do the same ("4.5 GFLOPs" for Swin-T is
4.5 G multiply-adds). hybridnets says what it means and reports **GMACs** (10⁹ MACs).
``torch.utils.flop_counter.FlopCounterMode`` counts real floating-point operations,
FLOPs = 2 × MACs; :func:`count_flops` returns those, and :func:`cross_check` compares the two.

fvcore counts ``aten::scaled_dot_product_attention`` and custom ops as zero unless it is given a
handle. :func:`macs_analysis` registers one for SDPA and for the hybridnets attention custom ops
(``hybridnets::window_attention``, ``hybridnets::attention``): with ``q`` of shape
``(..., Lq, D)``, ``k`` ``(..., Lk, D)`` and ``v`` ``(..., Lk, Dv)`` the count is
``prod(...)·Lq·Lk·D`` for ``q·kᵀ`` plus ``prod(...)·Lq·Lk·Dv`` for ``softmax(·)·v``, i.e.
``B·H·Lq·Lk·D·2`` when ``Dv = D``. Softmax, scaling, bias and masks are not counted (as fvcore
does not count element-wise ops). fvcore does count normalisation layers (about 4–5 per element),
pooling and upsampling; ``FlopCounterMode`` counts only matmuls, convolutions and attention.
An attention backward counts five matmuls (``q·kᵀ`` recomputed, then dP, dV, dQ, dK), the
convention of PyTorch's SDPA formulas, defined once in :mod:`hybridnets.ops.attention_flops`.

    from hybridnets.flops import count_macs, count_params
    gmacs = count_macs(model, (1, 3, 224, 224)) / 1e9
    params_m = count_params(model) / 1e6

fvcore is imported only when a MAC count is asked for.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from hybridnets.ops.attention_flops import attention_flops

if TYPE_CHECKING:
    from fvcore.nn import FlopCountAnalysis

logger = logging.getLogger(__name__)

__all__ = [
    "ATTENTION_OPS",
    "FlopsCrossCheck",
    "attention_macs",
    "count_flops",
    "count_macs",
    "count_params",
    "cross_check",
    "macs_analysis",
    "macs_by_operator",
]

ATTENTION_OPS = (
    "aten::scaled_dot_product_attention",
    "hybridnets::window_attention",
    "hybridnets::attention",
)
"""Operators whose MACs fvcore would miss; :func:`macs_analysis` gives each a handle."""

# fvcore handles that are not matmuls or convolutions; FlopCounterMode does not count these.
_NON_MATMUL_OPS = (
    "aten::batch_norm",
    "aten::group_norm",
    "aten::layer_norm",
    "aten::instance_norm",
    "aten::upsample_nearest2d",
    "aten::upsample_bilinear2d",
    "aten::adaptive_avg_pool2d",
    "aten::grid_sampler",
)

Inputs = Tensor | Sequence[Tensor] | Sequence[int] | torch.Size


def attention_macs(q_shape: Sequence[int], k_shape: Sequence[int], v_shape: Sequence[int]) -> int:
    """MACs of ``softmax(q·kᵀ)·v``: ``prod(batch dims)·Lq·Lk·(D + Dv)``.

    Half the forward FLOPs of :func:`hybridnets.ops.attention_flops.attention_flops`, the one
    attention FLOP convention (forward and backward) the library uses.

    Args:
        q_shape: Query shape ``(..., Lq, D)``; the leading dims (batch, heads, windows) count
            once each.
        k_shape: Key shape ``(..., Lk, D)``.
        v_shape: Value shape ``(..., Lk, Dv)``.
    """
    return attention_flops(q_shape, k_shape, v_shape) // 2


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (each shared tensor once).

    Args:
        model: Any module.
        trainable_only: Count only parameters with ``requires_grad``.
    """
    params = model.parameters()
    return sum(p.numel() for p in params if p.requires_grad or not trainable_only)


def macs_analysis(model: nn.Module, inputs: Inputs, matmul_only: bool = False) -> FlopCountAnalysis:
    """An fvcore ``FlopCountAnalysis`` (counts MACs) with attention handles registered.

    The analysis traces lazily when a count is asked for (``.total()``, ``.by_module()``,
    ``.by_operator()``); put the model in eval mode first, or use :func:`count_macs`.

    Args:
        model: The module to analyse.
        inputs: An input tensor, a tuple of them, or a full input shape such as
            ``(1, 3, 224, 224)`` (zeros on the model's device and dtype).
        matmul_only: Drop fvcore's norm, pooling and upsampling handles so the count matches
            what ``FlopCounterMode`` sees (matmuls, convolutions, attention).
    """
    with warnings.catch_warnings():  # fvcore's import calls the deprecated torch.jit.script
        warnings.simplefilter("ignore", FutureWarning)
        from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, _as_inputs(model, inputs))
    analysis.set_op_handle(**dict.fromkeys(ATTENTION_OPS, _attention_jit_handle))
    if matmul_only:
        # A ``None`` handle does not override a default one in fvcore; a zero handle does.
        analysis.set_op_handle(**dict.fromkeys(_NON_MATMUL_OPS, _zero_handle))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return analysis


def count_macs(model: nn.Module, inputs: Inputs, matmul_only: bool = False) -> int:
    """Total MACs of one forward pass on ``inputs`` (for the whole batch given).

    The model is traced in eval mode without gradients and put back in its previous mode.

    Args:
        model: The module to count.
        inputs: An input tensor, a tuple of them, or a full input shape including the batch
            dim, e.g. ``(1, 3, 224, 224)`` or ``(1, 1, 96, 96, 96)``.
        matmul_only: Count only matmuls, convolutions and attention (see :func:`macs_analysis`).

    Returns:
        MACs as an integer; divide by 1e9 for GMACs.
    """
    with _eval_no_grad(model):
        analysis = macs_analysis(model, inputs, matmul_only=matmul_only)
        total = int(analysis.total())
        skipped = analysis.unsupported_ops()
    if skipped:
        logger.debug("ops without a MAC count (assumed cheap): %s", dict(skipped))
    return total


def macs_by_operator(model: nn.Module, inputs: Inputs) -> dict[str, int]:
    """MACs per operator kind (``conv``, ``linear``, ``scaled_dot_product_attention``, ...)."""
    with _eval_no_grad(model):
        by_op = macs_analysis(model, inputs).by_operator()
    return {name: int(n) for name, n in sorted(by_op.items())}


def count_flops(model: nn.Module, inputs: Inputs, backward: bool = False) -> int:
    """FLOPs (2 × MACs) of one pass, counted by ``torch.utils.flop_counter.FlopCounterMode``.

    Counts matmuls, convolutions and attention (including PyTorch's CPU flash-attention kernel
    and the hybridnets custom ops when PyTorch has no formula for them); it does not count
    norms. Runs the model for real in eval mode.

    Args:
        model: The module to count.
        inputs: As for :func:`count_macs`.
        backward: Also run a backward pass from the sum of the outputs and count it.
    """
    from torch.utils.flop_counter import FlopCounterMode

    args = _as_inputs(model, inputs)
    if backward:
        args = tuple(a.detach().requires_grad_(a.is_floating_point()) for a in args)
    grad = contextlib.nullcontext() if backward else torch.no_grad()
    counter = FlopCounterMode(display=False, custom_mapping=_torch_attention_formulas())
    with _eval_mode(model), grad, counter:
        out = model(*args)
        if backward:
            sum(t.float().sum() for t in _tensors(out)).backward()
    return int(counter.get_total_flops())


@dataclass(frozen=True)
class FlopsCrossCheck:
    """fvcore and ``FlopCounterMode`` counts of the same forward, both in MACs.

    Attributes:
        fvcore_macs: fvcore count restricted to matmuls, convolutions and attention.
        torch_macs: ``FlopCounterMode`` FLOPs / 2.
        rel_diff: ``|fvcore - torch| / max(torch, 1)``.
        ok: ``rel_diff <= rtol``.
    """

    fvcore_macs: int
    torch_macs: int
    rel_diff: float
    ok: bool


def cross_check(model: nn.Module, inputs: Inputs, rtol: float = 0.01) -> FlopsCrossCheck:
    """Count one forward with fvcore and with ``FlopCounterMode`` and compare.

    Norms are left out of the fvcore side (``FlopCounterMode`` does not count them), so both
    count matmuls, convolutions and attention; they should agree to rounding.

    Args:
        model: The module to count.
        inputs: As for :func:`count_macs`; a shape is turned into one tensor used by both.
        rtol: Largest relative difference accepted as agreement.
    """
    args = _as_inputs(model, inputs)
    fv = count_macs(model, args, matmul_only=True)
    th = count_flops(model, args) // 2
    rel = abs(fv - th) / max(th, 1)
    result = FlopsCrossCheck(fvcore_macs=fv, torch_macs=th, rel_diff=rel, ok=rel <= rtol)
    if not result.ok:
        logger.warning("fvcore and FlopCounterMode disagree: %s", result)
    return result


def _attention_jit_handle(inputs: list[Any], outputs: list[Any]) -> int:
    """fvcore handle: ``inputs`` are the traced ``q, k, v, ...`` values of an attention op."""
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(x) for x in inputs[:3])
    return attention_macs(q, k, v)


def _zero_handle(inputs: list[Any], outputs: list[Any]) -> int:
    return 0


def _torch_attention_formulas() -> dict[Any, Callable[..., int]]:
    """``FlopCounterMode`` formulas for the CPU flash-attention kernel SDPA picks without a mask.

    PyTorch has formulas for the CUDA SDPA kernels but not (as of 2.x) for the CPU one; these use
    the same convention as PyTorch's CUDA formulas and the hybridnets custom ops (which register
    their own): :mod:`hybridnets.ops.attention_flops`.
    """
    from torch.utils.flop_counter import flop_registry

    def forward(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs) -> int:
        return attention_flops(q_shape, k_shape, v_shape)

    def backward(grad_shape, q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs) -> int:
        return attention_flops(q_shape, k_shape, v_shape, backward=True)

    candidates = {
        "_scaled_dot_product_flash_attention_for_cpu": forward,
        "_scaled_dot_product_flash_attention_for_cpu_backward": backward,
    }
    formulas = {}
    for name, formula in candidates.items():
        op = getattr(torch.ops.aten, name, None)
        if op is not None and op not in flop_registry:
            formulas[op] = formula
    return formulas


def _as_inputs(model: nn.Module, inputs: Inputs) -> tuple[Tensor, ...]:
    if isinstance(inputs, Tensor):
        return (inputs,)
    if len(inputs) > 0 and all(isinstance(x, Tensor) for x in inputs):
        return tuple(inputs)
    if not all(isinstance(x, int) for x in inputs):
        raise TypeError(f"inputs must be a tensor, tensors or a shape of ints, got {inputs!r}")
    param = next(model.parameters(), None)
    device = param.device if param is not None else None
    dtype = param.dtype if param is not None and param.is_floating_point() else None
    return (torch.zeros(tuple(inputs), device=device, dtype=dtype),)


def _tensors(out: Any) -> list[Tensor]:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, list | tuple):
        return [t for o in out for t in _tensors(o)]
    return []


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@contextlib.contextmanager
def _eval_no_grad(model: nn.Module) -> Iterator[None]:
    with _eval_mode(model), torch.no_grad():
        yield
