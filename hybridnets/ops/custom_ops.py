"""The Triton kernels as differentiable torch custom ops.

``hybridnets::window_attention`` and ``hybridnets::attention`` (forward) with their
``*_backward`` ops wrap the plain-tensor launchers of :mod:`hybridnets.kernels`. Custom ops keep
the kernels opaque to ``torch.compile`` (traced through their fake implementations), give them
autograd, and let FLOP tools count them (``torch.utils.flop_counter`` formulas from
:mod:`hybridnets.ops.attention_flops` are registered here; fvcore handles key on the op names).
Registering needs no Triton: the kernels are imported when an op first runs.

Each forward op returns ``(out, lse)``: the attention output and the fp32 per-row log-sum-exp
(log2 units) saved for the backward. ``lse`` is not differentiable. :func:`window_attention_triton`
and :func:`attention_triton` return the output alone:

    out = window_attention_triton(q, k, v, table, rel_index, region_ids)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.flop_counter import register_flop_formula

from hybridnets.ops.attention_flops import attention_flops

__all__ = ["attention_triton", "window_attention_triton"]


@torch.library.custom_op("hybridnets::window_attention", mutates_args=())
def _window_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    rpb_table: Tensor,
    rel_index: Tensor,
    region_ids: Tensor | None,
    scale: float,
) -> tuple[Tensor, Tensor]:
    from hybridnets.kernels.window_attention import window_attention_fwd

    return window_attention_fwd(q, k, v, rpb_table, rel_index, region_ids, scale)


@_window_attention.register_fake
def _(q, k, v, rpb_table, rel_index, region_ids, scale):
    return q.new_empty(q.shape), q.new_empty(q.shape[:3], dtype=torch.float32)


@torch.library.custom_op("hybridnets::window_attention_backward", mutates_args=())
def _window_attention_backward(
    grad_out: Tensor,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    out: Tensor,
    lse: Tensor,
    rpb_table: Tensor,
    rel_index: Tensor,
    region_ids: Tensor | None,
    scale: float,
    table_grad: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    from hybridnets.kernels.window_attention import window_attention_bwd

    return window_attention_bwd(
        grad_out, q, k, v, out, lse, rpb_table, rel_index, region_ids, scale, table_grad
    )


@_window_attention_backward.register_fake
def _(grad_out, q, k, v, out, lse, rpb_table, rel_index, region_ids, scale, table_grad):
    return (
        q.new_empty(q.shape),
        k.new_empty(k.shape),
        v.new_empty(v.shape),
        torch.empty_like(rpb_table),
    )


def _window_setup_context(ctx: Any, inputs: tuple, output: tuple[Tensor, Tensor]) -> None:
    q, k, v, rpb_table, rel_index, region_ids, scale = inputs
    out, lse = output
    ctx.mark_non_differentiable(lse)
    ctx.save_for_backward(q, k, v, out, lse, rpb_table, rel_index, region_ids)
    ctx.scale = scale


def _window_backward(ctx: Any, grad_out: Tensor, grad_lse: Tensor | None) -> tuple:
    q, k, v, out, lse, rpb_table, rel_index, region_ids = ctx.saved_tensors
    table_grad = ctx.needs_input_grad[3]
    dq, dk, dv, dtable = torch.ops.hybridnets.window_attention_backward(
        grad_out, q, k, v, out, lse, rpb_table, rel_index, region_ids, ctx.scale, table_grad
    )
    return dq, dk, dv, (dtable if table_grad else None), None, None, None


_window_attention.register_autograd(_window_backward, setup_context=_window_setup_context)


@torch.library.custom_op("hybridnets::attention", mutates_args=())
def _attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    bias: Tensor | None,
    key_padding_mask: Tensor | None,
    scale: float,
) -> tuple[Tensor, Tensor]:
    from hybridnets.kernels.attention import attention_fwd

    return attention_fwd(q, k, v, bias, key_padding_mask, scale)


@_attention.register_fake
def _(q, k, v, bias, key_padding_mask, scale):
    return q.new_empty(q.shape), q.new_empty(q.shape[:3], dtype=torch.float32)


@torch.library.custom_op("hybridnets::attention_backward", mutates_args=())
def _attention_backward(
    grad_out: Tensor,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    out: Tensor,
    lse: Tensor,
    bias: Tensor | None,
    key_padding_mask: Tensor | None,
    scale: float,
    bias_grad: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    from hybridnets.kernels.attention import attention_bwd

    return attention_bwd(grad_out, q, k, v, out, lse, bias, key_padding_mask, scale, bias_grad)


@_attention_backward.register_fake
def _(grad_out, q, k, v, out, lse, bias, key_padding_mask, scale, bias_grad):
    dbias = torch.empty_like(bias) if bias_grad and bias is not None else q.new_empty(0)
    return q.new_empty(q.shape), k.new_empty(k.shape), v.new_empty(v.shape), dbias


def _attention_setup_context(ctx: Any, inputs: tuple, output: tuple[Tensor, Tensor]) -> None:
    q, k, v, bias, key_padding_mask, scale = inputs
    out, lse = output
    ctx.mark_non_differentiable(lse)
    ctx.save_for_backward(q, k, v, out, lse, bias, key_padding_mask)
    ctx.scale = scale


def _attention_backward_formula(ctx: Any, grad_out: Tensor, grad_lse: Tensor | None) -> tuple:
    q, k, v, out, lse, bias, key_padding_mask = ctx.saved_tensors
    bias_grad = bias is not None and ctx.needs_input_grad[3]
    dq, dk, dv, dbias = torch.ops.hybridnets.attention_backward(
        grad_out, q, k, v, out, lse, bias, key_padding_mask, ctx.scale, bias_grad
    )
    return dq, dk, dv, (dbias if bias_grad else None), None, None


_attention.register_autograd(_attention_backward_formula, setup_context=_attention_setup_context)


@register_flop_formula([torch.ops.hybridnets.window_attention, torch.ops.hybridnets.attention])
def _forward_flop(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs) -> int:
    return attention_flops(q_shape, k_shape, v_shape)


@register_flop_formula(
    [torch.ops.hybridnets.window_attention_backward, torch.ops.hybridnets.attention_backward]
)
def _backward_flop(grad_out_shape, q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs):
    return attention_flops(q_shape, k_shape, v_shape, backward=True)


def window_attention_triton(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    rpb_table: Tensor,
    rel_index: Tensor,
    region_ids: Tensor | None = None,
    scale: float | None = None,
) -> Tensor:
    """Differentiable fused windowed attention (``hybridnets::window_attention``).

    Same contract as :func:`hybridnets.ops.reference.window_attention_reference`; gradients flow
    to ``q``, ``k``, ``v`` and ``rpb_table``. Needs CUDA or ``TRITON_INTERPRET=1``; callers
    normally go through :func:`hybridnets.ops.window_attention`, which checks first.
    """
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    out, _ = torch.ops.hybridnets.window_attention(q, k, v, rpb_table, rel_index, region_ids, scale)
    return out


def attention_triton(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    bias: Tensor | None = None,
    key_padding_mask: Tensor | None = None,
    scale: float | None = None,
) -> Tensor:
    """Differentiable fused global / cross attention (``hybridnets::attention``).

    Same contract as :func:`hybridnets.ops.reference.attention_reference`; gradients flow to
    ``q``, ``k``, ``v`` and ``bias``. Needs CUDA or ``TRITON_INTERPRET=1``; callers normally go
    through :func:`hybridnets.ops.attention`, which checks first.
    """
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    out, _ = torch.ops.hybridnets.attention(q, k, v, bias, key_padding_mask, scale)
    return out
