"""ImageTextModel: normalised embeddings in 2D and 3D, text statistics, what trains in LiT."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from hybridnets.multimodal import (
    ImageTextModel,
    ImageTower,
    TextTower,
    build_image_text_model,
)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_embeddings_are_normalised_and_lit_trains_no_text_weight(
    tiny_text_model: Path, spatial_dims: int
) -> None:
    model = build_image_text_model(
        "convvit_test", spatial_dims, 1, text_model=tiny_text_model, embed_dim=16
    )
    images = torch.randn(3, 1, *(16,) * spatial_dims)
    image, text, scale = model(images, ["a red square", "a dark cube", "a red square"])
    assert image.shape == text.shape == (3, 16)
    torch.testing.assert_close(image.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(text[0], text[2])
    (scale * image @ text.T).sum().backward()
    assert all(p.grad is None for p in model.text.parameters())
    assert model.image_proj.weight.grad is not None and model.logit_scale.grad is not None
    assert "logit_scale" in model.no_weight_decay()


def test_text_statistics_centre_the_captions(tiny_text_model: Path) -> None:
    model = ImageTextModel(ImageTower("convvit_test"), TextTower(tiny_text_model), 16)
    captions = ["a red square", "a green circle", "a blue cross", "a dark cube"]
    model.set_text_statistics(captions + captions[:1])  # repeats count once
    feats = (model.text.embed(captions) - model.text_shift) / model.text_scale
    torch.testing.assert_close(feats.mean(0), torch.zeros(32), atol=1e-5, rtol=0)
    torch.testing.assert_close(feats.std(0), torch.ones(32), atol=1e-5, rtol=0)
    assert model.training


def test_layer_decay_scales_the_image_backbone_and_keeps_the_head_at_full_rate(
    tiny_text_model: Path,
) -> None:
    """Each backbone parameter keeps its own layer group under the wrapper; pooling,
    projections and temperature are in the last group; the stem learns slowest."""
    from timm.models._manipulate import group_with_matcher

    from hybridnets.engine.optim import build_optimizer

    model = build_image_text_model("convvit_test", 2, 1, text_model=tiny_text_model, embed_dim=8)
    backbone = model.image.backbone
    alone = group_with_matcher(backbone.named_parameters(), backbone.group_matcher(), reverse=True)
    wrapped = group_with_matcher(model.named_parameters(), model.group_matcher(), reverse=True)
    assert all(wrapped[f"image.backbone.{name}"] == layer for name, layer in alone.items())
    top = max(alone.values())
    for name in ("logit_scale", "image_proj.weight", "text_proj.weight", "image.pool.query"):
        assert wrapped[name] == top, name
    optimizer = build_optimizer(model, lr=1.0, weight_decay=0.05, layer_decay=0.5)
    lr = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    stem = next(p for n, p in model.named_parameters() if n.startswith("image.backbone.stem"))
    assert lr[id(stem)] < lr[id(model.image_proj.weight)] == lr[id(model.logit_scale)]
    assert all(id(p) not in lr for p in model.text.parameters())  # frozen text: not optimised
    monai = build_image_text_model("monai_resnet10", 2, 1, text_model=tiny_text_model)
    with pytest.raises(ValueError, match="group_matcher"):
        build_optimizer(monai, lr=1.0, weight_decay=0.05, layer_decay=0.5)
