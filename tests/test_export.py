"""Export and deployment on the tiny ``*_test`` models, 2D and 3D: ONNX through both exporters
run in onnxruntime, ``torch.export`` with dynamic sizes, and empty batches."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import hybridnets

FAMILIES = ["convvit_test", "convswin_test", "cbamnext_test"]
SIZES = {2: 32, 3: 32}  # maps of 4 at stride 8: shifted, padded windows in every family


def _model(name: str, spatial_dims: int) -> nn.Module:
    return hybridnets.create(name, spatial_dims=spatial_dims, in_chans=1, num_classes=3).eval()


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("name", FAMILIES)
def test_onnx_export_matches_eager(name, spatial_dims, exporter, tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    model = _model(name, spatial_dims)
    x = torch.randn(2, 1, *(SIZES[spatial_dims],) * spatial_dims)
    path = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation warning
        torch.onnx.export(
            model,
            (x,),
            path,
            dynamo=exporter == "dynamo",
            opset_version=18,
            external_data=False,
        )
    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        want = model(x)
    torch.testing.assert_close(torch.from_numpy(got), want, atol=1e-5, rtol=1e-5)


def test_onnx_dynamic_sizes(tmp_path):
    """``dynamo=True`` with dynamic batch and sizes: one ONNX graph for padded and aligned maps."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = _model("convvit_test", 2)
    dynamic = {"x": dict.fromkeys((0, 2, 3), torch.export.Dim.DYNAMIC)}
    path = tmp_path / "model.onnx"
    x = torch.randn(1, 1, 32, 32)
    torch.onnx.export(model, (x,), path, dynamic_shapes=dynamic, external_data=False)
    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, size in [(2, 40), (3, 48)]:  # stage-3 window maps 5 (padded) and 6 (aligned)
        y = torch.randn(batch, 1, size, size)
        (got,) = session.run(None, {session.get_inputs()[0].name: y.numpy()})
        with torch.no_grad():
            want = model(y)
        torch.testing.assert_close(torch.from_numpy(got), want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("name", "spatial_dims", "size", "others"),
    [
        # stage-3 window maps 4 (padded to 6) at export; 6 (aligned) and 5 (padded) after
        ("convvit_test", 2, 32, (48, 40)),
        ("convvit_test", 3, 32, (48,)),
        # every stage windowed: 32, 16, 8, 4 (all padded); 36, 18, 9 aligned and 4 padded
        ("convswin_test", 2, 64, (72,)),
    ],
)
def test_torch_export_dynamic_sizes(name, spatial_dims, size, others):
    """One program serves sizes that need window padding and sizes that do not. Sizes must keep
    every window stage's map larger than its window (smaller maps clip the window: another
    graph); ``Dim.DYNAMIC`` lets export infer that bound."""
    model = _model(name, spatial_dims)
    x = torch.randn(1, 1, *(size,) * spatial_dims)
    dynamic = {"x": {d: torch.export.Dim.DYNAMIC for d in range(2, 2 + spatial_dims)}}
    program = torch.export.export(model, (x,), dynamic_shapes=dynamic)
    exported = program.module()
    for other in others:
        y = torch.randn(1, 1, *(other,) * spatial_dims)
        with torch.no_grad():
            torch.testing.assert_close(exported(y), model(y), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("name", FAMILIES)
def test_empty_batch_gives_empty_output(name, spatial_dims):
    model = _model(name, spatial_dims)
    x = torch.randn(0, 1, *(SIZES[spatial_dims],) * spatial_dims)
    with torch.no_grad():
        assert model(x).shape == (0, 3)
        features = model.forward_features(x)
    assert features.shape[:2] == (0, model.num_features)


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_dynamic_onnx_refuses_sizes_in_another_window_regime(exporter, tmp_path):
    """Issue 31, item 5: ``convswin_test`` exported at 32² serves 40² exactly (every window
    stage in the same regime) and refuses 64² (a stage's map passes its window: the graph's
    clipped window would be wrong), in ONNX Runtime, with either exporter."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = _model("convswin_test", 2)
    x = torch.randn(2, 1, 32, 32)
    path = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer
        if exporter == "dynamo":
            dynamic = {"x": dict.fromkeys((0, 2, 3), torch.export.Dim.DYNAMIC)}
            torch.onnx.export(model, (x,), path, dynamic_shapes=dynamic, external_data=False)
        else:
            torch.onnx.export(
                model, (x,), path, dynamo=False, opset_version=17, input_names=["x"],
                dynamic_axes={"x": {0: "batch", 2: "h", 3: "w"}},
            )  # fmt: skip
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    same = torch.randn(3, 1, 40, 40)
    (got,) = session.run(None, {name: same.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), model(same), atol=1e-5, rtol=1e-5)
    with pytest.raises(Exception, match="out of data bounds"):  # onnxruntime's own error type
        session.run(None, {name: torch.randn(1, 1, 64, 64).numpy()})
