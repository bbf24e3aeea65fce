"""Image + table fusion (late, gated cross-attention, co-attention) and two-view fusion, 2D and
3D: cross fusion starts as the image-only model, gradients reach the table, and fusion learns a
label that needs both inputs (XOR) while either input alone cannot."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F

from hybridnets.data.tabular import TabularBatch, TabularPreprocessor
from hybridnets.multimodal import (
    FUSION_MODES,
    FusionClassifier,
    TabularClassifier,
    TwoViewClassifier,
)
from hybridnets.resolve import create_model

ROWS = [
    {"age": "41", "sex": "male"},
    {"age": "", "sex": "female"},
    {"age": "63", "sex": ""},
]


def table() -> tuple[TabularPreprocessor, TabularBatch]:
    pre = TabularPreprocessor(["age"], ["sex"]).fit(ROWS)
    return pre, pre.transform(ROWS)


def _opened(model: FusionClassifier) -> FusionClassifier:
    """``model`` with its gates open, so the table changes the output."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("gate", "gate_a", "gate_b")):
                p.fill_(0.5)
    return model


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_cross_fusion_starts_as_and_without_its_table_is_the_image_only_model(
    spatial_dims: int,
) -> None:
    pre, tab = table()
    image_only = create_model("convvit_test", spatial_dims, in_chans=1, num_classes=3).eval()
    model = FusionClassifier("convvit_test", spatial_dims, 1, 3, pre, fusion="cross", dim=16)
    model.image.load_state_dict(image_only.state_dict())
    model.eval()
    x = torch.randn(3, 1, *(16,) * spatial_dims)
    with torch.no_grad():
        assert torch.equal(model(x, *tab), image_only(x))  # the gate starts closed
        assert not torch.allclose(_opened(model)(x, *tab), image_only(x))
        model.use_table = False
        assert torch.equal(model(x, *tab), image_only(x))


@pytest.mark.parametrize("fusion", FUSION_MODES)
def test_table_dropout_withholds_the_table_from_a_share_of_training_samples(fusion: str) -> None:
    rows = [{"age": str(20 + 3 * i), "sex": "mf"[i % 2]} for i in range(32)]
    pre = TabularPreprocessor(["age"], ["sex"]).fit(rows)
    tab = pre.transform(rows)
    torch.manual_seed(0)
    model = _opened(FusionClassifier("convvit_test", 2, 1, 2, pre, fusion, 16, table_dropout=0.5))
    model.image.eval()  # no drop path, running statistics; the fusion stays in training mode
    x = torch.randn(32, 1, 16, 16)
    with torch.no_grad():
        model.use_table = False
        alone = model(x, *tab)
        model.use_table, model.table_dropout = True, 0.0
        full = model(x, *tab)
        model.table_dropout = 0.5
        mixed = model(x, *tab)
    withheld = (mixed - alone).abs().amax(1) < 1e-6
    kept = (mixed - full).abs().amax(1) < 1e-6
    assert torch.equal(withheld, ~kept) and 6 <= int(withheld.sum()) <= 26
    model.eval()
    with torch.no_grad():  # no dropout in evaluation
        assert torch.equal(model(x, *tab), model(x, *tab))
    with pytest.raises(ValueError, match="table_dropout"):
        FusionClassifier("convvit_test", 2, 1, 2, pre, fusion, 16, table_dropout=1.0)


@pytest.mark.parametrize("fusion", FUSION_MODES)
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_gradients_reach_the_tabular_tokens(spatial_dims: int, fusion: str) -> None:
    pre, tab = table()
    model = FusionClassifier("convvit_test", spatial_dims, 1, 2, pre, fusion=fusion, dim=16)
    x, y = torch.randn(3, 1, *(16,) * spatial_dims), torch.tensor([0, 1, 1])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):  # cross: the zero gate blocks the table until one step has opened it
        opt.zero_grad()
        F.cross_entropy(model(x, *tab), y).backward()
        opt.step()
    grads = [p.grad for p in model.tabular.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    features = model.forward_features(x, *tab)
    width = model.image.num_features
    assert features.shape == (3, width if fusion == "cross" else width + 16)


def xor_set(size: int = 16) -> tuple[torch.Tensor, list[dict[str, str]], torch.Tensor]:
    """label = XOR(bright patch, flag), full factorial over patch position and age, so each
    input alone predicts the label no better than chance (exactly 0.5)."""
    images, rows, labels = [], [], []
    corners = [(1, 1), (1, 9), (9, 1), (9, 9)]
    for patch in (0, 1):
        for flag in (0, 1):
            for r, c in corners:
                for age in (40, 50, 60, 70):
                    x = torch.full((1, size, size), 0.2)
                    if patch:
                        x[0, r : r + 6, c : c + 6] = 1.0
                    images.append(x)
                    rows.append({"flag": ("no", "yes")[flag], "age": str(age)})
                    labels.append(patch ^ flag)
    return torch.stack(images), rows, torch.tensor(labels)


def train_accuracy(
    model: torch.nn.Module, inputs: tuple, y: torch.Tensor, steps: int = 60
) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    for _ in range(steps):
        logits = model(*inputs)
        opt.zero_grad()
        F.cross_entropy(logits, y).backward()
        opt.step()
    with torch.no_grad():  # train mode: batch-norm statistics of the training batch
        return (model(*inputs).argmax(1) == y).float().mean().item()


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models train faster on one thread (no OpenMP spinning on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_fusion_learns_what_neither_input_can_alone() -> None:
    x, rows, y = xor_set()
    pre = TabularPreprocessor(["age"], ["flag"]).fit(rows)
    tab = pre.transform(rows)
    for fusion in ("cross", "late"):
        torch.manual_seed(0)
        model = FusionClassifier("convvit_test", 2, 1, 2, pre, fusion=fusion, dim=32)
        assert train_accuracy(model, (x, *tab), y) >= 0.9, fusion
    torch.manual_seed(0)
    assert train_accuracy(create_model("convvit_test", 2, 1, 2), (x,), y) <= 0.75
    torch.manual_seed(0)
    assert train_accuracy(TabularClassifier(pre.spec, 2, dim=32), tuple(tab), y) <= 0.75


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_two_views(spatial_dims: int, shared: bool) -> None:
    model = TwoViewClassifier("convvit_test", spatial_dims, 1, 3, shared=shared)
    a, b = torch.randn(2, 1, *(16,) * spatial_dims), torch.randn(2, 1, *(32,) * spatial_dims)
    logits = model(a, b)
    assert logits.shape == (2, 3)
    logits.sum().backward()
    assert model.fusion.gate_a.grad is not None
    assert (model.image_b is None) == shared


def test_a_built_backbone_and_bad_arguments() -> None:
    pre, tab = table()
    net = create_model("resnet18", 2, in_chans=1, num_classes=2)
    model = FusionClassifier(net, num_classes=2, tabular=pre.spec, fusion="coattn", dim=16)
    assert model(torch.randn(3, 1, 32, 32), *tab).shape == (3, 2)
    assert net.num_classes == 0  # its unused head is dropped
    with pytest.raises(ValueError, match="fusion must be one of"):
        FusionClassifier("convvit_test", tabular=pre, fusion="sum")
    with pytest.raises(TypeError, match="no forward_features"):
        FusionClassifier(torch.nn.Linear(2, 2), tabular=pre, fusion="late")
