"""The one model resolver: hybridnets, MONAI aliases and timm names, with clear errors."""

from __future__ import annotations

import pytest
import torch

from hybridnets.resolve import MONAI_MODELS, create_model, model_source


def test_model_source() -> None:
    assert model_source("convvit_n") == "hybridnets"  # registered in timm too: ours wins
    assert model_source("monai_resnet18") == "monai"
    assert model_source("swin_unetr") == "monai"
    assert model_source("resnet18") == "timm"


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'convvit_nn'.*did you mean .*convvit_n"):
        model_source("convvit_nn")
    with pytest.raises(ValueError, match="unknown model 'qqqqqq'") as err:
        create_model("qqqqqq")
    assert "did you mean" not in str(err.value)


def test_timm_is_2d_only() -> None:
    with pytest.raises(ValueError, match=r"2D only.*MONAI alias"):
        create_model("resnet18", spatial_dims=3, in_chans=1, num_classes=2)


def test_bad_rank_and_input_size() -> None:
    with pytest.raises(ValueError, match="spatial_dims must be 2 or 3"):
        create_model("convvit_test", spatial_dims=4)
    with pytest.raises(ValueError, match="has not 3 dims"):
        create_model("convvit_test", spatial_dims=3, input_size=(32, 32))
    with pytest.raises(ValueError, match="unetr has a fixed token grid"):
        create_model("unetr", spatial_dims=3, in_chans=1)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_hybridnets_and_monai_resnet_any_rank(spatial_dims: int) -> None:
    x = torch.rand(2, 1, *([16] * spatial_dims))
    ours = create_model("convvit_test", spatial_dims, in_chans=1, num_classes=3)
    theirs = create_model(
        "monai_resnet10", spatial_dims, in_chans=1, num_classes=3, widen_factor=0.25
    )
    assert ours(x).shape == theirs(x).shape == (2, 3)


def test_library_defaults_when_num_classes_is_none() -> None:
    assert create_model("convvit_test").num_classes == 1000
    r10 = create_model("monai_resnet10", spatial_dims=2, in_chans=1, widen_factor=0.25)
    assert r10.fc.out_features == 400


def test_timm_fixed_grid_gets_img_size() -> None:
    vit = create_model("vit_tiny_patch16_224", in_chans=1, num_classes=2, input_size=(32, 32))
    assert vit(torch.rand(1, 1, 32, 32)).shape == (1, 2)
    cnn = create_model("resnet18", in_chans=1, num_classes=2, input_size=(32, 32))  # no img_size
    assert cnn.eval()(torch.rand(1, 1, 32, 32)).shape == (1, 2)


def test_monai_aliases_listed() -> None:
    assert {"monai_resnet18", "swin_unetr", "swin_unetr_encoder", "unetr"} <= set(MONAI_MODELS)


def test_one_factory_for_every_library(tmp_path):
    import hybridnets

    assert hybridnets.create is hybridnets.create_model is create_model
    feats = create_model("resnet18", features_only=True, out_indices=(1, 2), in_chans=1)
    assert [f.shape[1] for f in feats(torch.randn(1, 1, 64, 64))] == [64, 128]
    saved = hybridnets.save_pretrained(create_model("convvit_test", 3, 1, 2), tmp_path / "m")
    again = create_model(pretrained=str(saved))
    assert (again.spatial_dims, again.num_classes) == (3, 2)
    with pytest.raises(ValueError, match="takes no pretrained or features_only"):
        create_model("monai_resnet18", 3, 1, 2, features_only=True)
    with pytest.raises(ValueError, match="pretrained=True or False"):
        create_model("resnet18", pretrained="in1k")


def test_spatial_dims_is_2_or_3():
    with pytest.raises(ValueError, match="spatial_dims must be 2 or 3, got 1"):
        create_model("convvit_test", spatial_dims=1)
