"""save_pretrained → create(pretrained=folder) round trips for every registered model."""

from __future__ import annotations

import json
import os
import stat

import pytest
import torch

import hybridnets
from hybridnets.pretrained import read_saved_config, recorded_architecture, save_pretrained

_FORWARD = {"convvit_test", "convvit_n"}  # small enough to compare outputs on CPU


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("name", hybridnets.list_models())
def test_round_trip(name, spatial_dims, tmp_path, perturb, request):
    if name not in _FORWARD:
        request.getfixturevalue("fast_init")  # values don't matter for a state-dict comparison
    kwargs = {"spatial_dims": spatial_dims, "in_chans": 1, "num_classes": 3}
    model = (
        perturb(hybridnets.create(name, **kwargs))
        if name in _FORWARD
        else hybridnets.create(name, **kwargs)
    )
    save_pretrained(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    config = read_saved_config(tmp_path)
    assert config["architecture"] == name and config["kwargs"] == kwargs
    loaded = hybridnets.create(pretrained=tmp_path).eval()
    assert loaded.pretrained_cfg["source"] == str(tmp_path)
    ours, theirs = model.state_dict(), loaded.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    if name in _FORWARD:
        x = torch.randn(1, 1, *(32,) * spatial_dims)
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), model.eval()(x), rtol=0, atol=0)


def test_config_json_contents(saved_test_model):
    config = json.loads((saved_test_model.folder / "config.json").read_text())
    assert config["architecture"] == "convvit_test" and config["kwargs"] == {"num_classes": 5}
    assert config["pretrained_cfg"]["first_conv"] == "stem.0.0"


def test_tuple_kwargs_come_back_as_tuples(tmp_path):
    model = hybridnets.create("convvit_test", dims=(8, 16, 24, 32), num_classes=2)
    save_pretrained(model, tmp_path)
    assert read_saved_config(tmp_path)["kwargs"]["dims"] == (8, 16, 24, 32)
    assert hybridnets.create(pretrained=tmp_path).cfg.dims == (8, 16, 24, 32)


def test_overrides_when_loading_a_folder(saved_test_model):
    model = hybridnets.create(pretrained=saved_test_model.folder, num_classes=2)
    assert model.num_classes == 2
    assert torch.equal(model.stem[0][0].weight, saved_test_model.model.stem[0][0].weight)


def test_unsaveable_models_are_explained(tmp_path):
    with pytest.raises(ValueError, match=r"has no hybridnets_config"):
        save_pretrained(torch.nn.Linear(2, 2), tmp_path)
    model = hybridnets.create("convvit_test")
    model.hybridnets_config["kwargs"]["norm_layer"] = torch.nn.LayerNorm
    with pytest.raises(ValueError, match=r"norm_layer=.*cannot be written to config.json"):
        save_pretrained(model, tmp_path)
    with pytest.raises(FileNotFoundError, match=r"written by hybridnets.save_pretrained"):
        read_saved_config(tmp_path / "nothing")


def test_saved_files_get_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        save_pretrained(hybridnets.create("convvit_test"), tmp_path)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"config.json": 0o644, "model.safetensors": 0o644}


def test_recorded_architecture_of_each_kind_of_source(tmp_path):
    """A backbone folder's config.json without the run's arguments; a run's checkpoint.json
    (which wins, and may record none); nothing for a file, a missing folder or a hub repo."""
    model = hybridnets.create("convvit_test", in_chans=1, num_classes=0, stem_stride=4)
    save_pretrained(model, tmp_path / "backbone")
    assert recorded_architecture(tmp_path / "backbone") == ("convvit_test", {"stem_stride": 4})
    run = tmp_path / "run"
    save_pretrained(model, run)
    record = {"kind": "classifier", "model": "convvit_test", "model_kwargs": {"dims": [8, 16]}}
    (run / "checkpoint.json").write_text(json.dumps(record))
    assert recorded_architecture(run) == ("convvit_test", {"dims": (8, 16)})
    (run / "checkpoint.json").write_text(json.dumps(record | {"model_kwargs": {}}))
    assert recorded_architecture(str(run)) == ("convvit_test", {})  # trained at the defaults
    (run / "checkpoint.json").unlink()
    (run / "recipe.json").write_text(json.dumps(record))  # a folder from before checkpoint.json
    assert recorded_architecture(run) == ("convvit_test", {"dims": (8, 16)})
    weights = run / "model.safetensors"
    for source in (weights, tmp_path / "missing", "hf-hub:org/repo", "convvit_n.in1k"):
        assert recorded_architecture(source) is None, source
