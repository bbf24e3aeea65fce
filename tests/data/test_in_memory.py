"""One in-memory image set under labelled arrays, unlabelled images and image–text pairs: the
same statistics for uint8 and float storage, standardised batches, and the alignment recipe's
standardisation the same at training and at scoring time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import hybridnets.checkpoint.aligned
from hybridnets.align.evaluate import load_for_scoring
from hybridnets.data.arrays import ImageArray
from hybridnets.data.in_memory import STD_FLOOR, InMemoryImages, channel_stat, standardize
from hybridnets.data.inputs import Inputs
from hybridnets.data.medmnist import MedMNIST
from hybridnets.data.pairs import ImageTextPairs, read_table
from hybridnets.data.split_table import TableSplit
from hybridnets.data.unlabelled import UnlabelledImages


def _uint8(spatial_dims: int, in_chans: int, n: int = 10, size: int = 8) -> torch.Tensor:
    """uint8 ``(n, C, *S)`` with a different level and spread per channel."""
    g = torch.Generator().manual_seed(spatial_dims * 10 + in_chans)
    x = torch.randint(0, 120, (n, in_chans, *(size,) * spatial_dims), generator=g)
    return (x + 40 * torch.arange(in_chans).view(1, -1, *[1] * spatial_dims)).to(torch.uint8)


def _npz(path: Path, images: torch.Tensor) -> Path:
    """A MedMNIST ``.npz`` holding ``images`` ``(N, C, *S)`` in every split."""
    x = images.numpy()
    x = x[:, 0] if x.shape[1] == 1 else np.moveaxis(x, 1, -1)  # (N, *S) or (N, H, W, 3)
    labels = (np.arange(len(x)) % 2)[:, None]
    splits = ("train", "val", "test")
    np.savez(path, **{f"{s}_images": x for s in splits}, **{f"{s}_labels": labels for s in splits})
    return path


def _pairs(images: torch.Tensor) -> ImageTextPairs:
    return ImageTextPairs(images.float().div_(255.0), [f"image {i}" for i in range(len(images))])


def test_every_kind_is_one_in_memory_set(tmp_path: Path) -> None:
    images = _uint8(2, 1)
    kinds = [
        MedMNIST(_npz(tmp_path / "a.npz", images)),
        TableSplit("t", images, torch.zeros(len(images), dtype=torch.long), ["a"]),
        Inputs("i", [str(i) for i in range(len(images))], images, ["a"]),
        UnlabelledImages([tmp_path / "a.npz"]),
        _pairs(images),
    ]
    for ds in kinds:
        assert isinstance(ds, InMemoryImages), type(ds)
        for name in ("channel_stats", "set_normalization", "normalize", "batch", "__len__"):
            assert getattr(type(ds), name) is getattr(InMemoryImages, name), (type(ds), name)
        assert (len(ds), ds.in_chans, ds.spatial_dims, ds.spatial_shape) == (10, 1, 2, (8, 8))
    assert all(isinstance(ds, ImageArray) for ds in kinds[:3])


@pytest.mark.parametrize(("spatial_dims", "in_chans"), [(2, 1), (2, 3), (3, 1)])  # as MedMNIST
def test_uint8_and_float_storage_give_the_same_statistics(
    tmp_path: Path, spatial_dims: int, in_chans: int
) -> None:
    images = _uint8(spatial_dims, in_chans)
    npz = _npz(tmp_path / "a.npz", images)
    stats = {
        "uint8": MedMNIST(npz).channel_stats(chunk=3),  # several chunks
        "unlabelled": UnlabelledImages([npz]).channel_stats(),
        "pairs": _pairs(images).channel_stats(),
    }
    x = images.double() / 255
    reduce = (0, *range(2, x.ndim))
    want = x.mean(reduce), x.std(reduce, correction=0)  # population std
    for kind, (mean, std) in stats.items():
        assert len(mean) == len(std) == in_chans, kind
        torch.testing.assert_close(
            torch.tensor(mean, dtype=torch.float64), want[0], rtol=1e-6, atol=0, msg=kind
        )
        torch.testing.assert_close(
            torch.tensor(std, dtype=torch.float64), want[1], rtol=1e-6, atol=0, msg=kind
        )


def test_statistics_of_a_subset_and_the_std_floor() -> None:
    images = _uint8(2, 1)
    index = torch.tensor([1, 4, 7])
    pairs = _pairs(images)
    assert pairs.channel_stats(index) == _pairs(images[index]).channel_stats()
    uint8 = Inputs("i", "abc", images[index], ["a"]).channel_stats()
    assert np.allclose(uint8, pairs.channel_stats(index), rtol=1e-6, atol=0)
    flat = torch.full((4, 2, 8, 8), 77, dtype=torch.uint8)
    for ds in (Inputs("i", "abcd", flat, ["a"]), _pairs(flat)):
        mean, std = ds.channel_stats()
        assert mean == pytest.approx([77 / 255] * 2) and std == [STD_FLOOR] * 2


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("storage", ["uint8", "float"])
def test_a_standardised_set_has_zero_mean_and_unit_std(spatial_dims: int, storage: str) -> None:
    images = _uint8(spatial_dims, 3)
    if storage == "uint8":
        ds: InMemoryImages = Inputs("i", [str(i) for i in range(len(images))], images, ["a"])
    else:
        ds = _pairs(images)
    raw = ds.batch(torch.arange(len(ds)))
    assert raw.dtype == torch.float32 and raw.min() >= 0 and raw.max() <= 1  # no statistics yet
    ds.set_normalization(*ds.channel_stats())
    x = ds.batch(torch.arange(len(ds)))  # (N, 3, *S)
    reduce = (0, *range(2, x.ndim))
    assert x.dtype == torch.float32 and x.shape == images.shape
    torch.testing.assert_close(x.mean(reduce), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(reduce, correction=0), torch.ones(3), atol=1e-5, rtol=0)
    assert ds.batch(torch.arange(2), size=4).shape == (2, 3, *(4,) * spatial_dims)
    one = ds.normalize(ds.images[0])  # one image (C, *S) broadcasts the same way
    assert torch.equal(one, x[0])


def test_set_normalization_checks_the_channel_count_and_subsets_keep_it() -> None:
    pairs = _pairs(_uint8(2, 3))
    with pytest.raises(ValueError, match=r"mean has 2 values for 3 channel\(s\)"):
        pairs.set_normalization([0.1, 0.2], [1.0])
    pairs.set_normalization(*pairs.channel_stats())
    index = torch.tensor([2, 5])
    assert torch.equal(pairs.subset(index).batch(torch.arange(2)), pairs.batch(index))
    expected = standardize(pairs.images[:2], channel_stat(pairs.mean, 2), pairs.std)
    assert torch.equal(pairs.batch(torch.arange(2)), expected)


def _table(folder: Path, n: int = 6, size: int = 8) -> Path:
    """A CSV of RGB PNG pairs, all in the train split."""
    rng = np.random.default_rng(0)
    lines = ["image,text,split"]
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
            folder / f"{i}.png"
        )
        lines.append(f"{i}.png,image {i},train")
    (folder / "pairs.csv").write_text("\n".join(lines) + "\n")
    return folder / "pairs.csv"


def test_align_standardises_the_same_at_training_and_scoring_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _table(tmp_path)
    # training (align's _setup and _step): the statistics of the pairs trained on, recorded
    train = read_table(table, "train", in_chans=3, size=8)
    index = torch.tensor([0, 2, 3, 5])
    mean, std = train.channel_stats(index)
    train.set_normalization(mean, std)
    recipe = {"in_chans": 3, "input_size": 8, "mean": mean, "std": std}
    # scoring a saved model: load_for_scoring's standardisation from the recorded statistics
    monkeypatch.setattr(
        hybridnets.checkpoint.aligned, "load_aligned", lambda folder: (torch.nn.Identity(), recipe)
    )
    _, pairs, prepare = load_for_scoring(tmp_path / "aligned", table, "train")
    at_scoring = prepare(pairs.batch(index))
    assert torch.equal(at_scoring, train.batch(index))  # bit for bit
    assert torch.equal(at_scoring, train.standardize(pairs.batch(index)))  # the run's own scoring
