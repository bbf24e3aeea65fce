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
