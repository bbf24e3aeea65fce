"""ConvNeXt stem, block and downsampling layer for any ``spatial_dims``.

Liu et al., "A ConvNet for the 2020s", CVPR 2022 (github.com/facebookresearch/ConvNeXt, MIT).
Parameter names follow timm's ConvNeXt so its weights map over one to one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from timm.layers import DropPath, LayerScale, Mlp
from torch import Tensor, nn

from hybridnets.layers.dims import channels_first, channels_last, conv_nd
from hybridnets.layers.norm import LayerNormNd


class ConvNeXtStem(nn.Sequential):
    """Stem that reduces the input by ``stride`` (1, 2 or 4).

    ``kind="patch"``: one non-overlapping conv (kernel = stride) then LayerNorm, as in ConvNeXt.
    ``kind="overlap"``: two 3^d convs (stride split over them) with LayerNorm and GELU, which keeps
    fine detail on small medical images.

    ``ConvNeXtStem(1, 96, stride=4, spatial_dims=3)(torch.randn(1, 1, 32, 32, 32))``
    """

    def __init__(
        self,
        in_chans: int,
        dim: int,
        stride: int = 4,
        spatial_dims: int = 2,
        kind: str = "patch",
    ) -> None:
        if stride not in (1, 2, 4):
            raise ValueError(f"stem stride must be 1, 2 or 4, got {stride}")
        if kind == "patch":
            layers = [conv_nd(spatial_dims, in_chans, dim, kernel_size=stride, stride=stride)]
        elif kind == "overlap":
            s1, s2 = {1: (1, 1), 2: (2, 1), 4: (2, 2)}[stride]
            mid = max(dim // 2, 16)
            layers = [
                conv_nd(spatial_dims, in_chans, mid, kernel_size=3, stride=s1, padding=1),
                LayerNormNd(mid),
                nn.GELU(),
                conv_nd(spatial_dims, mid, dim, kernel_size=3, stride=s2, padding=1),
            ]
        else:
            raise ValueError(f"stem kind must be 'patch' or 'overlap', got {kind!r}")
        super().__init__(*layers, LayerNormNd(dim))
        self.stride = stride


class Downsample(nn.Sequential):
    """LayerNorm then a stride-2 conv with kernel 2 (ConvNeXt's stage transition); odd sizes floor.

    ``Downsample(96, 192, spatial_dims=2)(torch.randn(1, 96, 56, 56)).shape == (1, 192, 28, 28)``
    """

    def __init__(self, in_dim: int, out_dim: int, spatial_dims: int = 2) -> None:
        super().__init__(
            LayerNormNd(in_dim), conv_nd(spatial_dims, in_dim, out_dim, kernel_size=2, stride=2)
        )


class ConvNeXtBlock(nn.Module):
    """Depthwise k^d conv → channels-last LayerNorm → MLP → LayerScale (→ optional gate) → DropPath.

    Args:
        dim: Channels.
        spatial_dims: 2 or 3.
        kernel_size: Depthwise kernel size.
        mlp_ratio: MLP hidden width over ``dim``.
        ls_init_value: LayerScale init; None disables it.
        drop_path: Stochastic depth rate.
        gate_layer: Optional channels-first gate applied to the branch before the residual, e.g.
            :class:`hybridnets.layers.CBAM` (called as ``gate_layer(dim, spatial_dims=...)``).
        norm_layer: Channels-last norm; default ``nn.LayerNorm(eps=1e-6)`` as in ConvNeXt.

    ``ConvNeXtBlock(64, spatial_dims=3)(torch.randn(1, 64, 8, 8, 8))``
    """

    def __init__(
        self,
        dim: int,
        spatial_dims: int = 2,
        kernel_size: int = 7,
        mlp_ratio: float = 4.0,
        ls_init_value: float | None = 1e-6,
        drop_path: float = 0.0,
        gate_layer: Callable[..., nn.Module] | None = None,
        norm_layer: Callable[[int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.conv_dw = conv_nd(
            spatial_dims, dim, dim, kernel_size=kernel_size, padding=kernel_size // 2, groups=dim
        )
        self.norm = (norm_layer or partial(nn.LayerNorm, eps=1e-6))(dim)
        self.mlp = Mlp(dim, int(mlp_ratio * dim), act_layer=nn.GELU)
        self.ls = LayerScale(dim, ls_init_value) if ls_init_value is not None else nn.Identity()
        self.gate = gate_layer(dim, spatial_dims=spatial_dims) if gate_layer else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x
        x = channels_last(self.conv_dw(x))  # (B, *S, C)
        x = self.ls(self.mlp(self.norm(x)))
        x = self.gate(channels_first(x))  # (B, C, *S)
        return shortcut + self.drop_path(x)
