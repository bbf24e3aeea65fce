"""Triton backend adapter: routes to ``hybridnets.kernels`` when it can run the inputs.

Filled in by the kernels work; until then it always refuses, saying why.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class TritonBackend:
    name: str = "triton"

    def supports_window_attention(self, q: Tensor, **kwargs) -> list[str]:
        return ["the Triton kernels are not built into this version"]

    def supports_attention(self, q: Tensor, **kwargs) -> list[str]:
        return ["the Triton kernels are not built into this version"]

    def window_attention(self, q, k, v, rpb_table, rel_index, region_ids, scale) -> Tensor:
        raise NotImplementedError

    def attention(self, q, k, v, bias, key_padding_mask, scale) -> Tensor:
        raise NotImplementedError
