"""BatchNorm convolution pieces for small data: conv-BN-act, stem, downsampling, MBConv; any rank.

Sandler et al., "MobileNetV2", CVPR 2018 (inverted residual); Tan & Le, "EfficientNetV2",
ICML 2021 (MBConv + squeeze-excitation, BatchNorm + SiLU); Dai et al., "CoAtNet", NeurIPS 2021
(MBConv stages before attention stages, a stride-2 3×3 conv stem). BatchNorm standardises
every channel over the batch, so these layers learn from raw, uncentred medical intensities
and from sparse inputs (masks) where LayerNorm stages stall.
"""

from __future__ import annotations

from timm.layers import DropPath, get_act_layer
from torch import Tensor, nn

from hybridnets.layers.dims import conv_nd
from hybridnets.layers.norm import BatchNormNd
from hybridnets.layers.squeeze_excite import SqueezeExcite


class ConvNormAct(nn.Sequential):
    """``k^d`` conv (no bias) → BatchNorm → activation (``act_layer=None``: no activation).

    ``ConvNormAct(1, 32, spatial_dims=3, stride=2)(torch.randn(2, 1, 28, 28, 28))``
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        spatial_dims: int = 2,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        act_layer: str | type[nn.Module] | None = "silu",
    ) -> None:
        super().__init__(
            conv_nd(
                spatial_dims,
                in_dim,
                out_dim,
                kernel_size,
                stride=stride,
                padding=kernel_size // 2,
                groups=groups,
                bias=False,
            ),
            BatchNormNd(out_dim),
            get_act_layer(act_layer)() if act_layer else nn.Identity(),
        )
        self.init_weights()

    def init_weights(self) -> None:
        """He (fan-out) normal init of the conv, as timm's EfficientNet; BatchNorm untouched."""
        nn.init.kaiming_normal_(self[0].weight, mode="fan_out", nonlinearity="relu")


class ConvStem(nn.Sequential):
    """Overlapping conv-BN-act stem: two 3^d convs, the first with stride 2 (``stride=4``: both).

    Learns without input standardisation (the first BatchNorm absorbs the intensity scale).
    ``ConvStem(1, 32, stride=2, spatial_dims=2)(torch.randn(2, 1, 28, 28)).shape == (2, 32, 14, 14)``
    """

    def __init__(
        self,
        in_chans: int,
        dim: int,
        stride: int = 2,
        spatial_dims: int = 2,
        act_layer: str | type[nn.Module] = "silu",
    ) -> None:
        if stride not in (1, 2, 4):
            raise ValueError(f"stem stride must be 1, 2 or 4, got {stride}")
        s1, s2 = {1: (1, 1), 2: (2, 1), 4: (2, 2)}[stride]
        mid = max(dim // 2, 16)
        super().__init__(
            ConvNormAct(in_chans, mid, spatial_dims, stride=s1, act_layer=act_layer),
            ConvNormAct(mid, dim, spatial_dims, stride=s2, act_layer=act_layer),
        )
        self.stride = stride


class ConvDownsample(nn.Sequential):
    """Stride-2 3^d conv → BatchNorm; sizes round up (28 → 14 → 7 → 4 → 2), nothing is cropped.

    ``ConvDownsample(32, 64, spatial_dims=3)(torch.randn(2, 32, 7, 7, 7)).shape == (2, 64, 4, 4, 4)``
    """

    def __init__(self, in_dim: int, out_dim: int, spatial_dims: int = 2) -> None:
        super().__init__(*ConvNormAct(in_dim, out_dim, spatial_dims, stride=2, act_layer=None))


class _InvertedResidual(nn.Module):
    """``x + DropPath(project(SE(expand(x))))``: what MBConv and fused MBConv share.

    Subclasses build the expansion (:meth:`build_expansion`) and apply it (:meth:`expand`). With
    ``zero_init_last`` the projection's BatchNorm scale starts at zero, so the block starts as the
    identity (as ResNets'); under Adam that scale then grows by at most about the learning rate
    per step, which holds the block back in short trainings (``convvit_n`` turns it off).
    """

    def __init__(
        self,
        dim: int,
        spatial_dims: int = 2,
        expand_ratio: float = 4.0,
        kernel_size: int = 3,
        se_ratio: float = 0.25,
        drop_path: float = 0.0,
        act_layer: str | type[nn.Module] = "silu",
        zero_init_last: bool = True,
    ) -> None:
        super().__init__()
        hidden = int(dim * expand_ratio)
        self.build_expansion(dim, hidden, spatial_dims, kernel_size, act_layer)
        self.se = (
            SqueezeExcite(
                hidden, rd_ratio=se_ratio, rd_base=dim, act_layer=get_act_layer(act_layer)
            )
            if se_ratio > 0
            else nn.Identity()
        )
        self.conv_pwl = ConvNormAct(hidden, dim, spatial_dims, 1, act_layer=None)
        if zero_init_last:
            nn.init.zeros_(self.conv_pwl[1].weight)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def build_expansion(
        self,
        dim: int,
        hidden: int,
        spatial_dims: int,
        kernel_size: int,
        act_layer: str | type[nn.Module],
    ) -> None:
        raise NotImplementedError

    def expand(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        branch = self.conv_pwl(self.se(self.expand(x)))  # (B, C, *S)
        return x + self.drop_path(branch)


class MBConvBlock(_InvertedResidual):
    """Inverted residual: 1^d expand → BN-act → k^d depthwise → BN-act → SE → 1^d project → BN.

    Residual ``x + DropPath(branch(x))``; the block starts as the identity.

    Args:
        dim: Channels in and out.
        spatial_dims: 2 or 3.
        expand_ratio: Hidden width over ``dim``.
        kernel_size: Depthwise kernel size.
        se_ratio: Squeeze-excitation bottleneck over ``dim`` (0 disables it).
        drop_path: Stochastic depth rate.
        act_layer: Activation name or class (timm's ``get_act_layer``).

    ``MBConvBlock(64, spatial_dims=3)(torch.randn(2, 64, 7, 7, 7))``
    """

    def build_expansion(self, dim, hidden, spatial_dims, kernel_size, act_layer) -> None:
        self.conv_pw = ConvNormAct(dim, hidden, spatial_dims, 1, act_layer=act_layer)
        self.conv_dw = ConvNormAct(
            hidden, hidden, spatial_dims, kernel_size, groups=hidden, act_layer=act_layer
        )

    def expand(self, x: Tensor) -> Tensor:
        return self.conv_dw(self.conv_pw(x))


class FusedMBConvBlock(_InvertedResidual):
    """Fused inverted residual (EfficientNetV2): k^d expand conv → BN-act → SE → 1^d project → BN.

    A full k^d convolution replaces MBConv's 1^d expand + depthwise pair: more parameters, but
    on small maps and in 3D far faster than a depthwise k^3 convolution. Same arguments as
    :class:`MBConvBlock`; the block starts as the identity.

    ``FusedMBConvBlock(32, spatial_dims=2)(torch.randn(2, 32, 14, 14))``
    """

    def build_expansion(self, dim, hidden, spatial_dims, kernel_size, act_layer) -> None:
        self.conv_exp = ConvNormAct(dim, hidden, spatial_dims, kernel_size, act_layer=act_layer)

    def expand(self, x: Tensor) -> Tensor:
        return self.conv_exp(x)
