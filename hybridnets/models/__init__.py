"""Backbone families; importing this module registers every model."""

from hybridnets.models.cbamnext import CBAMNeXt
from hybridnets.models.convswin import ConvSwin
from hybridnets.models.convvit import ConvViT, ConvViTCfg, ConvViTStage, convvit_from_timm

__all__ = ["CBAMNeXt", "ConvSwin", "ConvViT", "ConvViTCfg", "ConvViTStage", "convvit_from_timm"]
