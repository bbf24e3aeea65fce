"""ConvViT: ConvNeXt stages, then shifted-window attention, then global attention; 2D and 3D.

The CoAtNet / MaxViT layout (convolution early for locality and small-data inductive bias,
attention late for context) built from ConvNeXt and Swin parts:

- Dai et al., "CoAtNet: Marrying Convolution and Attention for All Data Sizes", NeurIPS 2021.
- Liu et al., "A ConvNet for the 2020s" (ConvNeXt), CVPR 2022 — stem, conv blocks, downsampling.
- Liu et al., "Swin Transformer", ICCV 2021 — window attention with relative position bias.

``convvit_t/_s/_b`` share ConvNeXt-T/S/B's widths and Swin-T/S/B's heads and window (7), so
ImageNet weights of both parents transplant into them (:func:`checkpoint_filter_fn`, tags
``convvit_{t,s,b}.in1k_timm``). The model, its blocks and the transplant serve the whole family:
:mod:`~hybridnets.models.convswin` and :mod:`~hybridnets.models.cbamnext` are other layouts.

``convvit_n`` (and ``convvit_test``) is the small-data design for training from scratch on a
few hundred to a few thousand 28–64 px images or volumes (CoAtNet / EfficientNetV2 lineage):
a conv-BN-SiLU stem (two 3^d convs, stride 2), fused-MBConv stages with BatchNorm and
squeeze-excitation (expansion 1, then 4), stride-2 conv-BN downsampling that rounds sizes up,
attention only on the small maps of stages 3 and 4, and a BatchNorm head. Fused (full 3^d)
convolutions rather than depthwise ones: with MBConv (depthwise) stages a 3D training epoch on
AdrenalMNIST3D took 4× longer on one CPU thread (283 s vs 67 s, batch 32), the depthwise 3^3
convolution dominating (benchmarks/results/small_data.md).
Code: Apache-2.0, hybridnets authors.

    model = hybridnets.create("convvit_t", spatial_dims=3, in_chans=1, num_classes=2)
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import torch
from timm.layers import trunc_normal_
from timm.models._features import feature_take_indices
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from hybridnets.layers import (
    CBAM,
    ConvDownsample,
    ConvNeXtBlock,
    ConvNeXtStem,
    ConvNormAct,
    ConvStem,
    Downsample,
    FusedMBConvBlock,
    GlobalAttention,
    MBConvBlock,
    PooledHead,
    TransformerBlock,
    WindowAttention,
    channels_first,
    channels_last,
    check_input,
    check_spatial_dims,
    is_channels_last,
)
from hybridnets.models._builder import build_hybrid, model_cfg
from hybridnets.models.convvit_timm import checkpoint_filter_fn, convvit_from_timm, timm_weights
from hybridnets.pretrained.registry import register_pretrained_cfgs
from hybridnets.registry import register_input_kwargs, register_model

__all__ = [
    "ConvViT",
    "ConvViTCfg",
    "ConvViTStage",
    "checkpoint_filter_fn",
    "convvit_from_timm",
    "timm_weights",
]


@dataclass(frozen=True)
class ConvViTCfg:
    """Stage layout of a hybrid: what the stem, stages and head are made of.

    ``block_types`` per stage: ``C`` ConvNeXt block (LayerNorm), ``M`` MBConv block (BatchNorm,
    squeeze-excitation), ``F`` fused MBConv block, ``W`` window attention, ``G`` global
    attention, or a pattern such as ``"CW"`` repeated over the stage's depth. ``num_heads``
    gives the heads of the stages with attention blocks (``None`` entries, or no tuple at all,
    for conv-only stages; a stage with attention and no entry gets ``dims[i] // head_dim``).
    ``stem_type``: ``"patch"`` (ConvNeXt's linear patch conv + LayerNorm, what ImageNet weights
    expect), ``"overlap"`` (two 3^d convs, LayerNorm) or ``"conv"`` (two 3^d conv-BN-act, learns
    from raw intensities). ``downsample``: ``"patch"`` (ConvNeXt's LayerNorm + 2^d stride-2
    conv) or ``"conv"`` (3^d stride-2 conv + BatchNorm, sizes round up). ``mlp_ratio`` is the
    MLP ratio of ``C``/``W``/``G`` blocks and the expansion of ``M``/``F`` blocks unless
    ``expand_ratios`` gives one per stage; ``act_layer`` is the activation of the BatchNorm
    layers (stem ``"conv"``, ``M``, ``F``); ``zero_init_last`` starts each ``M``/``F`` block as
    the identity (zero last BatchNorm scale; ``convvit_n`` turns it off: under AdamW that scale
    grows by about the learning rate per step, too slowly for a 10-epoch 3D training).
    ``head_norm``: ``"layer"`` (ConvNeXt/Swin) or
    ``"batch"`` (for training from scratch on sparse medical inputs; see
    :class:`hybridnets.layers.PooledHead`). ``channels_last_3d``: in 3D, keep the convolution
    weights and the input in ``torch.channels_last_3d`` memory (the same model and outputs; on
    CPU oneDNN's 3D convolutions run faster so: ``convvit_n``'s training step at 28³, batch 32,
    one thread, 1.30 → 1.17 s).

    Model-level metadata (native input size, licence, weight tags) is not layout: it lives in
    each family's ``default_cfgs`` and tag tables.
    """

    dims: tuple[int, ...] = (96, 192, 384, 768)
    depths: tuple[int, ...] = (3, 3, 6, 2)
    block_types: tuple[str, ...] = ("C", "C", "W", "G")
    num_heads: tuple[int | None, ...] | None = None
    head_dim: int = 32
    window_size: int = 7
    stem_stride: int = 4
    stem_type: str = "patch"
    downsample: str = "patch"
    mlp_ratio: float = 4.0
    expand_ratios: tuple[float, ...] | None = None
    se_ratio: float = 0.25
    act_layer: str = "silu"
    zero_init_last: bool = True
    conv_ls_init_value: float | None = 1e-6
    attn_ls_init_value: float | None = None
    cbam: bool = False
    head_norm: str = "layer"
    channels_last_3d: bool = False

    def stage_heads(self, stage: int) -> int | None:
        """Heads of ``stage``'s attention blocks; None when the stage has none."""
        if not set(self.block_types[stage]) & set("WG"):
            return None
        given = self.num_heads[stage] if self.num_heads is not None else None
        return given if given is not None else max(1, self.dims[stage] // self.head_dim)


class ConvViTStage(nn.Module):
    """Optional downsampling, then blocks on channels-first ``(B, C, *S)``.

    ``pattern`` names the block types, repeated over the stage: ``"C"`` ConvNeXt block, ``"M"``
    MBConv block, ``"F"`` fused MBConv block, ``"W"``
    shifted-window attention (every other window block shifted), ``"G"`` global attention;
    ``"CCW"`` interleaves two conv blocks and one window block (Next-ViT style). ``num_heads``
    is only read when the pattern has attention blocks.
    """

    def __init__(
        self,
        in_dim: int,
        dim: int,
        pattern: str,
        cfg: ConvViTCfg,
        num_heads: int | None,
        spatial_dims: int,
        drop_path: list[float],
        downsample: bool,
        expand_ratio: float | None = None,
    ) -> None:
        super().__init__()
        if not pattern or set(pattern) - set("CMFWG"):
            raise ValueError(f"unknown block types in {pattern!r}; use 'C', 'M', 'F', 'W' and 'G'")
        if cfg.downsample not in _DOWNSAMPLES:
            raise ValueError(
                f"downsample must be one of {sorted(_DOWNSAMPLES)}, got {cfg.downsample!r}"
            )
        self.downsample = (
            _DOWNSAMPLES[cfg.downsample](in_dim, dim, spatial_dims) if downsample else nn.Identity()
        )
        self.grad_checkpointing = False
        window, gate = cfg.window_size, (CBAM if cfg.cbam else None)
        expand_ratio = expand_ratio or cfg.mlp_ratio
        blocks, windows_so_far = [], 0
        for i, dp in enumerate(drop_path):
            kind = pattern[i % len(pattern)]
            if kind == "C":
                blocks.append(
                    ConvNeXtBlock(
                        dim,
                        spatial_dims,
                        mlp_ratio=cfg.mlp_ratio,
                        ls_init_value=cfg.conv_ls_init_value,
                        drop_path=dp,
                        gate_layer=gate,
                    )
                )
                continue
            if kind in ("M", "F"):
                block_cls = MBConvBlock if kind == "M" else FusedMBConvBlock
                blocks.append(
                    block_cls(
                        dim,
                        spatial_dims,
                        expand_ratio=expand_ratio,
                        se_ratio=cfg.se_ratio,
                        zero_init_last=cfg.zero_init_last,
                        drop_path=dp,
                        act_layer=cfg.act_layer,
                    )
                )
                continue
            if kind == "G":
                mixer = GlobalAttention(dim, num_heads, spatial_dims, rel_pos_size=window)
            else:
                shift = 0 if windows_so_far % 2 == 0 else window // 2
                mixer = WindowAttention(dim, num_heads, spatial_dims, window, shift_size=shift)
                windows_so_far += 1
            blocks.append(
                TransformerBlock(
                    dim, mixer, cfg.mlp_ratio, drop_path=dp, ls_init_value=cfg.attn_ls_init_value
                )
            )
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        x = self.downsample(x)
        is_last = False
        for block in self.blocks:
            wants_last = isinstance(block, TransformerBlock)  # attention blocks work on (B, *S, C)
            if wants_last != is_last:
                x = channels_last(x) if wants_last else channels_first(x)
                is_last = wants_last
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return channels_first(x) if is_last else x  # (B, C, *S)


def _check_int(name: str, value: object, minimum: int, note: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}{note}, got {value!r}")


def _check_args(
    cfg: ConvViTCfg, in_chans: int, num_classes: int, drop_rate: float, drop_path_rate: float
) -> None:
    """Refuse arguments that would only fail (or silently misbehave) at forward time."""
    _check_int("in_chans", in_chans, 1)
    _check_int("num_classes", num_classes, 0, " (0: no classifier)")
    for name, rate in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {rate!r}")
    for name in ("dims", "depths"):
        for value in getattr(cfg, name):
            _check_int(f"every entry of {name}", value, 1, f" ({name}={getattr(cfg, name)})")
    _check_int("window_size", cfg.window_size, 1)
    _check_int("stem_stride", cfg.stem_stride, 1)
    _check_int("head_dim", cfg.head_dim, 1)
    if not cfg.mlp_ratio > 0:
        raise ValueError(f"mlp_ratio must be > 0, got {cfg.mlp_ratio!r}")
    for i, dim in enumerate(cfg.dims):
        heads = cfg.stage_heads(i)
        if heads is None:
            continue
        _check_int(f"num_heads of stage {i}", heads, 1)
        if dim % heads:
            raise ValueError(
                f"stage {i}: dims[{i}]={dim} is not divisible by its {heads} attention heads"
            )


class ConvViT(nn.Module):
    """Hybrid ConvNeXt → window attention → global attention backbone with timm's interface.

    Args:
        cfg: Layout (see :class:`ConvViTCfg`); the registered sizes fill it.
        spatial_dims: 2 for images ``(B, C, H, W)``, 3 for volumes ``(B, C, D, H, W)``.
        in_chans: Input channels (1 for CT/MR/X-ray).
        num_classes: Classifier outputs; 0 for a feature extractor without head.
        global_pool: ``"avg"``, ``"max"``, ``"avgmax"``, or ``""`` (no pooling: the head
            classifies every position of the last map).
        drop_rate: Dropout before the classifier.
        drop_path_rate: Stochastic depth, rising linearly to this value over all blocks.

    Any input at least :attr:`min_input_size` per dim works; odd sizes floor at each downsampling.
    """

    def __init__(
        self,
        cfg: ConvViTCfg,
        spatial_dims: int = 2,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if not len(cfg.dims) == len(cfg.depths) == len(cfg.block_types):
            raise ValueError(f"dims, depths and block_types differ in length: {cfg}")
        for name in ("num_heads", "expand_ratios"):
            if getattr(cfg, name) is not None and len(getattr(cfg, name)) != len(cfg.dims):
                raise ValueError(f"{name} needs one value per stage ({len(cfg.dims)}): {cfg}")
        if cfg.stem_type not in ("patch", "overlap", "conv"):
            raise ValueError(
                f"stem_type must be 'patch', 'overlap' or 'conv', got {cfg.stem_type!r}"
            )
        _check_args(cfg, in_chans, num_classes, drop_rate, drop_path_rate)
        self.cfg = cfg
        self.spatial_dims = check_spatial_dims(spatial_dims)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.output_fmt = {1: "NCL", 2: "NCHW", 3: "NCDHW"}[spatial_dims]  # channels-first
        self.stem = (
            ConvStem(in_chans, cfg.dims[0], cfg.stem_stride, spatial_dims, cfg.act_layer)
            if cfg.stem_type == "conv"
            else ConvNeXtStem(in_chans, cfg.dims[0], cfg.stem_stride, spatial_dims, cfg.stem_type)
        )

        rates = torch.linspace(0, drop_path_rate, sum(cfg.depths), device="cpu").tolist()
        stages, in_dim, reduction = [], cfg.dims[0], cfg.stem_stride
        self.feature_info = []
        for i, (dim, depth, kind) in enumerate(zip(cfg.dims, cfg.depths, cfg.block_types)):
            reduction *= 2 if i > 0 else 1
            dp, rates = rates[:depth], rates[depth:]
            expand = cfg.expand_ratios[i] if cfg.expand_ratios else None
            heads = cfg.stage_heads(i)
            stages.append(
                ConvViTStage(
                    in_dim, dim, kind, cfg, heads, spatial_dims, dp, i > 0, expand_ratio=expand
                )
            )
            self.feature_info.append(
                {"num_chs": dim, "reduction": reduction, "module": f"stages.{i}"}
            )
            in_dim = dim
        self.stages = nn.Sequential(*stages)
        self.min_input_size = reduction
        self.num_features = self.head_hidden_size = in_dim
        self.norm_pre = nn.Identity()
        self.head = PooledHead(in_dim, num_classes, drop_rate, cfg.head_norm, global_pool)
        self.apply(_init_weights)
        self.memory_format = (
            torch.channels_last_3d
            if cfg.channels_last_3d and self.spatial_dims == 3
            else torch.contiguous_format
        )
        self.to(memory_format=self.memory_format)

    # --- timm model interface -------------------------------------------------------------
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """Relative position tables are excluded from weight decay (as in Swin)."""
        return {n for n, _ in self.named_parameters() if "relative_position_bias_table" in n}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """timm's parameter groups (layer-wise LR decay): stem, then each stage's downsampling
        with that stage's first block (as timm's ConvNeXt), the head last."""
        return {
            "stem": r"^stem",
            "blocks": r"^stages\.(\d+)"
            if coarse
            else [
                (r"^stages\.(\d+)\.downsample", (0,)),
                (r"^stages\.(\d+)\.blocks\.(\d+)", None),
                (r"^norm_pre", (99999,)),
            ],
        }

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        for stage in self.stages:
            stage.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier with a fresh one of ``num_classes`` outputs (0: none) and,
        if given, the pooling (``global_pool=""`` keeps the map: see :class:`ConvViT`)."""
        _check_int("num_classes", num_classes, 0, " (0: no classifier)")
        self.num_classes = num_classes
        self.head.reset(num_classes, global_pool)

    def check_input(self, x: Tensor) -> None:
        """Raise ``ValueError`` for a wrong rank, channel count or too small input."""
        check_input(x, self.spatial_dims, self.in_chans, self.min_input_size)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, in_chans, *S)`` → last stage map ``(B, num_features, *S/stride)``."""
        self.check_input(x)
        return self.norm_pre(self.stages(self.stem(self._in_memory_format(x))))

    def _in_memory_format(self, x: Tensor) -> Tensor:
        """``x`` in the model's memory format (a layout, not values); left as it is while
        exporting or tracing, whose graphs have no memory formats (ONNX cannot express one)."""
        exporting = torch.onnx.is_in_onnx_export() or torch.jit.is_tracing()
        if self.memory_format == torch.contiguous_format or exporting:
            return x
        return x.contiguous(memory_format=self.memory_format)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Pool, norm and classify; ``pre_logits=True`` returns the pooled ``(B, num_features)``."""
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(
        self,
        x: Tensor,
        indices: int | list[int] | tuple[int, ...] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[Tensor] | tuple[Tensor, list[Tensor]]:
        """Per-stage maps and the final features (as :meth:`forward_features`).

        Args:
            x: Input ``(B, in_chans, *S)``.
            indices: Stages to return: an int takes the last n, a sequence those, None all.
            norm: Apply the head's norm to the last stage's map, position by position (as timm's
                Swin applies its final norm); other stages are returned as they are.
            stop_early: Do not run the stages after the last one requested.
            output_fmt: ``"NCHW"`` / ``"NCDHW"`` for channels-first ``(B, C_i, *S_i)``,
                ``"NHWC"`` / ``"NDHWC"`` for channels-last ``(B, *S_i, C_i)``; 3D models take
                timm's ``"NCHW"`` / ``"NHWC"`` as the same two layouts.
            intermediates_only: Return only the list of maps.
        """
        channels_last = is_channels_last(output_fmt, self.spatial_dims)
        self.check_input(x)
        take, max_index = feature_take_indices(len(self.stages), indices)
        last = len(self.stages) - 1
        stages = self.stages[: max_index + 1] if stop_early else self.stages
        intermediates = []
        x = self.stem(self._in_memory_format(x))
        for i, stage in enumerate(stages):
            x = stage(x)
            if i in take:
                feat = self.head.norm(x) if norm and i == last else x  # (B, C_i, *S_i)
                intermediates.append(feat.movedim(1, -1) if channels_last else feat)
        if intermediates_only:
            return intermediates
        return self.norm_pre(x), intermediates

    def prune_intermediate_layers(
        self,
        indices: int | list[int] | tuple[int, ...] = 1,
        prune_norm: bool = False,
        prune_head: bool = True,
    ) -> list[int]:
        """Drop stages after the last one in ``indices``; ``prune_norm`` drops the head's norm
        (what ``forward_intermediates(norm=True)`` applies to the final stage, so it goes with
        that stage too), ``prune_head`` the classifier and pooling."""
        take, max_index = feature_take_indices(len(self.stages), indices)
        if prune_norm or max_index < len(self.stages) - 1:
            self.head.norm = nn.Identity()
        self.stages = self.stages[: max_index + 1]
        self.feature_info = self.feature_info[: max_index + 1]
        if prune_head:
            self.reset_classifier(0, "")
        return take


_DOWNSAMPLES = {"patch": Downsample, "conv": ConvDownsample}


def _init_weights(module: nn.Module) -> None:
    """Truncated normal (std 0.02) for linear and LayerNorm-model convs (ConvNeXt, Swin); He init
    for convs followed by BatchNorm; CBAM gates at identity (``apply`` visits a module after its
    children, so these overrides win)."""
    if isinstance(module, (nn.Linear, nn.Conv2d, nn.Conv3d)):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (ConvNormAct, CBAM)):
        module.init_weights()


# --- sizes and weights ----------------------------------------------------------------------
_CFGS = {
    "convvit_test": ConvViTCfg(
        dims=(16, 32, 48, 64),
        depths=(1, 1, 2, 1),
        num_heads=(None, None, 2, 2),
        block_types=("F", "F", "W", "G"),
        expand_ratios=(1, 4, 4, 4),
        window_size=3,
        stem_type="conv",
        stem_stride=2,
        downsample="conv",
        head_norm="batch",
        zero_init_last=False,
    ),
    "convvit_n": ConvViTCfg(
        dims=(32, 64, 128, 256),
        depths=(2, 2, 4, 2),
        num_heads=(None, None, 4, 8),
        block_types=("F", "F", "W", "G"),
        expand_ratios=(1, 4, 4, 4),
        stem_type="conv",
        stem_stride=2,
        downsample="conv",
        head_norm="batch",
        zero_init_last=False,
        channels_last_3d=True,
    ),
    "convvit_t": ConvViTCfg(
        dims=(96, 192, 384, 768), depths=(3, 3, 6, 2), num_heads=(None, None, 12, 24)
    ),
    "convvit_s": ConvViTCfg(
        dims=(96, 192, 384, 768), depths=(3, 3, 18, 2), num_heads=(None, None, 12, 24)
    ),
    "convvit_b": ConvViTCfg(
        dims=(128, 256, 512, 1024), depths=(3, 3, 18, 2), num_heads=(None, None, 16, 32)
    ),
}

# timm's pretrained_cfg keys per size (timm.get_pretrained_cfg_value reads this table too)
default_cfgs = {
    "convvit_test": model_cfg(input_size=32),
    "convvit_n": model_cfg(input_size=28),
    "convvit_t": model_cfg(),
    "convvit_s": model_cfg(),
    "convvit_b": model_cfg(),
}

register_pretrained_cfgs(
    {
        "convvit_t.in1k_timm": timm_weights("convnext_tiny", "swin_tiny_patch4_window7_224"),
        "convvit_s.in1k_timm": timm_weights("convnext_small", "swin_small_patch4_window7_224"),
        "convvit_b.in1k_timm": timm_weights("convnext_base", "swin_base_patch4_window7_224"),
    }
)

# convvit_n is laid out for 28-px inputs (stage 1 at 14 px). From twice that side on, its stem
# strides 4 so stage 1 keeps a map near that size (16 px at 64, 16³ at 64³): the recipes apply
# this and record it (measured in the models guide and the site's defaults page, issue 32).
register_input_kwargs("convvit_n", 2 * default_cfgs["convvit_n"]["input_size"][-1], stem_stride=4)


def _create_convvit(variant: str, pretrained: Any, **kwargs: Any) -> ConvViT:
    cfgs = _CFGS[variant], default_cfgs[variant]
    return build_hybrid(ConvViT, variant, *cfgs, pretrained, checkpoint_filter_fn, **kwargs)


@register_model
def convvit_test(pretrained: Any = False, **kwargs: Any) -> ConvViT:
    """Tiny ConvViT for tests (window 3, ~0.2M params)."""
    return _create_convvit("convvit_test", pretrained, **kwargs)


@register_model
def convvit_n(pretrained: Any = False, **kwargs: Any) -> ConvViT:
    """Nano ConvViT (~3M) for training from scratch on few labels at 28–64 px: conv-BN stem,
    fused-MBConv BatchNorm stages, window then global attention, batch-norm head."""
    return _create_convvit("convvit_n", pretrained, **kwargs)


@register_model
def convvit_t(pretrained: Any = False, **kwargs: Any) -> ConvViT:
    """ConvViT-T: ConvNeXt-T widths, Swin-T heads and window 7 (~28M params at 224²)."""
    return _create_convvit("convvit_t", pretrained, **kwargs)


@register_model
def convvit_s(pretrained: Any = False, **kwargs: Any) -> ConvViT:
    """ConvViT-S: ConvNeXt-S widths, Swin-S depth and heads (~50M params)."""
    return _create_convvit("convvit_s", pretrained, **kwargs)


@register_model
def convvit_b(pretrained: Any = False, **kwargs: Any) -> ConvViT:
    """ConvViT-B: ConvNeXt-B widths, Swin-B heads (~88M params)."""
    return _create_convvit("convvit_b", pretrained, **kwargs)
