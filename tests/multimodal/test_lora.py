"""LoRA through peft on every family, 2D and 3D: only adapters train, merged equals unmerged,
saved adapters are small and load back."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

import hybridnets
from hybridnets.multimodal import LORA_TARGET_MODULES, lora_targets

peft = pytest.importorskip("peft")


def _lora_model(name: str, spatial_dims: int, rank: int = 4):
    model = hybridnets.create(name, spatial_dims=spatial_dims, in_chans=1, num_classes=3).eval()
    for module in model.modules():  # ConvNeXt layer scales start at 1e-6: let the MLPs count
        if hasattr(module, "gamma"):
            torch.nn.init.ones_(module.gamma)
    config = peft.LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=lora_targets(model),
        modules_to_save=["head.fc"],
        init_lora_weights=False,  # random B: the adapters change the output from the start
    )
    return model, peft.get_peft_model(model, config)


_POINTWISE = {"conv_pwl.0"}
_TARGETS = {
    "convvit_test": {"attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"} | _POINTWISE,
    "convswin_test": {"attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"},
    "cbamnext_test": {"mlp.fc1", "mlp.fc2"},
}


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("name", ["convvit_test", "convswin_test", "cbamnext_test"])
def test_adapters_train_alone_and_merge_exactly(name: str, spatial_dims: int) -> None:
    from hybridnets.multimodal.lora import _pointwise_conv3d_merges

    base, model = _lora_model(name, spatial_dims)
    expected = _TARGETS[name]
    if spatial_dims == 3 and not _pointwise_conv3d_merges():  # peft#3768
        expected = expected - _POINTWISE
    assert set(lora_targets(base)) == expected
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert all("lora_" in n or "modules_to_save" in n for n in trainable)
    adapted = {n.split(".lora_")[0] for n in trainable if "lora_" in n}
    assert {t for t in expected if any(a.endswith(t) for a in adapted)} == expected
    x = torch.randn(2, 1, *(32,) * spatial_dims)
    with torch.no_grad():
        unmerged = model(x)
        with model.disable_adapter():
            plain = model(x)
        merged = model.merge_and_unload()(x)
    assert (unmerged - plain).abs().max() > 1e-4  # the adapters do something
    torch.testing.assert_close(merged, unmerged, atol=1e-5, rtol=1e-5)


def test_saved_adapters_are_small_and_load_back(tmp_path: Path) -> None:
    base, model = _lora_model("convvit_n", 2, rank=4)
    full = sum(p.numel() * p.element_size() for p in base.parameters())
    model.save_pretrained(tmp_path)
    assert (tmp_path / "adapter_model.safetensors").stat().st_size < 0.05 * full
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        expected = model(x)
        plain = copy.deepcopy(model).unload()  # the base weights, adapters removed
        loaded = peft.PeftModel.from_pretrained(plain, tmp_path).eval()
        torch.testing.assert_close(loaded(x), expected)


def test_non_hybridnets_models_must_name_their_targets() -> None:
    assert set(LORA_TARGET_MODULES) == {"attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"}
    with pytest.raises(ValueError, match="pass target_modules"):
        lora_targets(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3)))
