"""Pre-norm transformer block around any token mixer, on channels-last maps of any rank."""

from __future__ import annotations

from collections.abc import Callable

from timm.layers import DropPath, LayerScale, Mlp
from torch import Tensor, nn


class TransformerBlock(nn.Module):
    """``x + DropPath(LS(attn(norm1(x))))`` then ``x + DropPath(LS(mlp(norm2(x))))``.

    Parameter names (``norm1``, ``attn``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``) match timm's Swin
    blocks, so their weights transplant one to one.

    Args:
        dim: Channels (last dim of the input).
        attn: The token mixer, e.g. :class:`WindowAttention` or :class:`GlobalAttention`.
        mlp_ratio: MLP hidden width over ``dim``.
        drop_path: Stochastic depth rate.
        ls_init_value: LayerScale init; None (Swin's default) disables it.
        norm_layer: Norm class.

    ``TransformerBlock(96, WindowAttention(96, 3))(torch.randn(1, 14, 14, 96))``
    """

    def __init__(
        self,
        dim: int,
        attn: nn.Module,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        ls_init_value: float | None = None,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = attn
        self.ls1 = LayerScale(dim, ls_init_value) if ls_init_value is not None else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU)
        self.ls2 = LayerScale(dim, ls_init_value) if ls_init_value is not None else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.ls1(self.attn(self.norm1(x))))
        return x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))
