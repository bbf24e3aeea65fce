"""Triton attention kernels, installed as ``hybridnets.kernels``.

Submodules import Triton; import them only where Triton is available:

    from hybridnets.kernels.window_attention import window_attention_triton
    from hybridnets.kernels.attention import attention_triton

Layers and models never import this package: they call :mod:`hybridnets.ops`, whose dispatcher
runs these kernels through the ``hybridnets::window_attention`` / ``hybridnets::attention``
custom ops when it can.
"""
