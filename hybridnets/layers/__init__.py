"""Reusable blocks, each written once for 2D and 3D (``spatial_dims``).

MLP, DropPath and LayerScale are timm's (they act on the last dim, so they are rank-agnostic):
importable from here, documented by timm, so not in ``__all__``.
"""

from timm.layers import DropPath as DropPath
from timm.layers import LayerScale as LayerScale
from timm.layers import Mlp as Mlp

from hybridnets.layers.attention_pool import AttentionPool
from hybridnets.layers.cbam import CBAM
from hybridnets.layers.convnext import ConvNeXtBlock, ConvNeXtStem, Downsample
from hybridnets.layers.cross_attention import CoAttention, CrossAttentionFusion
from hybridnets.layers.dims import (
    channels_first,
    channels_last,
    check_input,
    check_spatial_dims,
    conv_nd,
    is_channels_last,
    to_tuple,
)
from hybridnets.layers.global_attention import GlobalAttention
from hybridnets.layers.head import PooledHead
from hybridnets.layers.mbconv import (
    ConvDownsample,
    ConvNormAct,
    ConvStem,
    FusedMBConvBlock,
    MBConvBlock,
)
from hybridnets.layers.norm import BatchNormNd, LayerNormNd
from hybridnets.layers.rel_pos import RelativePositionBias, relative_position_index
from hybridnets.layers.squeeze_excite import SqueezeExcite
from hybridnets.layers.transformer_block import TransformerBlock
from hybridnets.layers.window_attention import WindowAttention
from hybridnets.layers.windows import shift_region_ids, window_partition, window_reverse

__all__ = [
    "CBAM",
    "AttentionPool",
    "BatchNormNd",
    "CoAttention",
    "ConvDownsample",
    "ConvNeXtBlock",
    "ConvNeXtStem",
    "ConvNormAct",
    "ConvStem",
    "CrossAttentionFusion",
    "Downsample",
    "FusedMBConvBlock",
    "GlobalAttention",
    "LayerNormNd",
    "MBConvBlock",
    "PooledHead",
    "RelativePositionBias",
    "SqueezeExcite",
    "TransformerBlock",
    "WindowAttention",
    "channels_first",
    "channels_last",
    "check_input",
    "check_spatial_dims",
    "conv_nd",
    "is_channels_last",
    "relative_position_index",
    "shift_region_ids",
    "to_tuple",
    "window_partition",
    "window_reverse",
]
