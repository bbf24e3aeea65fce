"""Registry and factory: listing, patterns, close matches, duplicates."""

from __future__ import annotations

import pytest
import torch

import hybridnets
from hybridnets.registry import register_model


def test_list_models_with_pattern():
    assert "convvit_t" in hybridnets.list_models()
    assert hybridnets.list_models("convvit_[ts]") == ["convvit_s", "convvit_t"]
    assert hybridnets.list_models("nothing*") == []


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match=r"unknown model 'convvit_tiny'.*did you mean .*convvit_t"):
        hybridnets.create("convvit_tiny")


def test_duplicate_registration_is_refused():
    def convvit_t(**kwargs):
        return torch.nn.Identity()

    with pytest.raises(ValueError, match="already registered"):
        register_model(convvit_t)


def test_create_needs_a_name_without_a_saved_folder():
    with pytest.raises(ValueError, match="needs a model name"):
        hybridnets.create()


def test_input_size_kwargs_give_convvit_n_a_coarser_stem_from_twice_its_size() -> None:
    from hybridnets.registry import input_size_kwargs

    assert input_size_kwargs("convvit_n", (64, 64)) == {"stem_stride": 4}
    assert input_size_kwargs("convvit_n", (56, 56, 56)) == {"stem_stride": 4}
    assert input_size_kwargs("convvit_n", 128) == {"stem_stride": 4}
    for small in (28, (55, 55), (64, 40), None):  # every side must reach 56
        assert input_size_kwargs("convvit_n", small) == {}, small
    assert input_size_kwargs("convvit_t", 448) == {}  # only models that register a rule
    assert input_size_kwargs("resnet18", 64) == {}
    kwargs = input_size_kwargs("convvit_n", 64)
    kwargs["stem_stride"] = 1  # a copy: the registered rule is not changed through it
    assert input_size_kwargs("convvit_n", 64) == {"stem_stride": 4}
    model = hybridnets.create("convvit_n", in_chans=1, num_classes=2, **kwargs)
    assert model.feature_info[0]["reduction"] == 1
