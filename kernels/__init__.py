"""Triton attention kernels, installed as ``hybridnets.kernels``: plain-tensor launchers.

Submodules import Triton; import them only where Triton is available:

    from hybridnets.kernels.window_attention import window_attention_fwd, window_attention_bwd
    from hybridnets.kernels.attention import attention_fwd, attention_bwd

Each ``*_fwd`` returns ``(out, lse)`` and each ``*_bwd`` the input gradients; nothing here knows
about autograd, custom ops or dispatch. Layers and models never import this package: they call
:mod:`hybridnets.ops`, which registers these launchers as the differentiable
``hybridnets::window_attention`` / ``hybridnets::attention`` custom ops and runs them when it can.
"""
