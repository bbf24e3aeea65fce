"""Backbone families; importing this module registers every model."""

from hybridnets.models.convvit import ConvViT, ConvViTCfg, ConvViTStage

__all__ = ["ConvViT", "ConvViTCfg", "ConvViTStage"]
