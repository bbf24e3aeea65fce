"""Tests for hybridnets.data.medmnist: the real files and malformed ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hybridnets.data import MedMNIST, MedMNISTFormatError


@pytest.mark.parametrize(
    ("name", "split", "n", "spatial"),
    [
        ("pneumoniamnist.npz", "train", 4708, (28, 28)),
        ("pneumoniamnist.npz", "test", 624, (28, 28)),
        ("adrenalmnist3d.npz", "val", 98, (28, 28, 28)),
    ],
)
def test_real_files(medmnist_file, name: str, split: str, n: int, spatial: tuple[int, ...]) -> None:
    ds = MedMNIST(medmnist_file(name), split)
    assert len(ds) == n
    assert (ds.num_classes, ds.in_chans, ds.spatial_dims) == (2, 1, len(spatial))
    image, label = ds[0]
    assert image.shape == (1, *spatial) and image.dtype == torch.float32
    assert 0.0 <= image.min() <= image.max() <= 1.0
    assert isinstance(label, int) and label in (0, 1)
    assert set(ds.labels.unique().tolist()) == {0, 1}


def _write(path: Path, images: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> Path:
    arrays = {f"{s}_images": v for s, v in images.items()}
    arrays |= {f"{s}_labels": v for s, v in labels.items()}
    np.savez(path, **arrays)
    return path


def _arrays(shape: tuple[int, ...] = (8, 8), classes: int = 3, n: int = 6):
    rng = np.random.default_rng(0)
    images = {
        s: rng.integers(0, 256, (n, *shape), dtype=np.uint8) for s in ("train", "val", "test")
    }
    labels = {s: (np.arange(n) % classes).astype(np.uint8)[:, None] for s in images}
    return images, labels


@pytest.mark.parametrize(
    ("shape", "in_chans", "spatial"),
    [((8, 8), 1, (8, 8)), ((8, 8, 3), 3, (8, 8)), ((6, 8, 8), 1, (6, 8, 8))],
)
def test_layouts(tmp_path: Path, shape, in_chans: int, spatial) -> None:
    path = _write(tmp_path / "toy.npz", *_arrays(shape))
    ds = MedMNIST(path, "val", mean=0.5, std=0.25)
    assert (ds.in_chans, ds.spatial_shape, ds.num_classes) == (in_chans, spatial, 3)
    image, _ = ds[1]
    assert image.shape == (in_chans, *spatial)
    raw = torch.from_numpy(np.load(path)["val_images"][1]).float() / 255
    if in_chans == 3:
        raw = raw.permute(2, 0, 1)
    torch.testing.assert_close(image, (raw.reshape(image.shape) - 0.5) / 0.25)


def test_transform_and_known_class_count(tmp_path: Path) -> None:
    images, labels = _arrays(classes=2)
    ds = MedMNIST(
        _write(tmp_path / "breastmnist_64.npz", images, labels),
        "train",
        transform=lambda x: x * 0,
        target_transform=lambda y: y + 10,
    )
    assert ds.num_classes == 2  # official count for breastmnist, size suffix stripped
    image, label = ds[1]
    assert image.abs().sum() == 0 and label == 11


def test_missing_file_says_where_from(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"medmnist\.com.*pip install medmnist.*train_images"
    ):
        MedMNIST(tmp_path / "nope.npz")


def test_missing_key(tmp_path: Path) -> None:
    images, labels = _arrays()
    del labels["val"]
    with pytest.raises(MedMNISTFormatError, match=r"missing key.*val_labels"):
        MedMNIST(_write(tmp_path / "toy.npz", images, labels))


def test_wrong_dtype(tmp_path: Path) -> None:
    images, labels = _arrays()
    images["test"] = images["test"].astype(np.float32)
    with pytest.raises(MedMNISTFormatError, match="test_images has dtype float32, expected uint8"):
        MedMNIST(_write(tmp_path / "toy.npz", images, labels))


def test_label_out_of_range(tmp_path: Path) -> None:
    images, labels = _arrays(classes=2)
    labels["test"][0] = 7
    with pytest.raises(
        MedMNISTFormatError, match=r"test_labels\[0\] is 7 \(1 label\(s\) outside \[0, 2\)"
    ):
        MedMNIST(_write(tmp_path / "pneumoniamnist.npz", images, labels))
    with pytest.raises(MedMNISTFormatError, match="outside"):
        MedMNIST(_write(tmp_path / "toy.npz", images, labels), num_classes=2)
    # an unknown file: the training split defines the classes, so the bad split is named
    labels["test"][0], labels["val"][3] = 0, 7
    with pytest.raises(
        MedMNISTFormatError, match=r"val_labels\[3\] is 7 .*from train_labels.*fix the val labels"
    ) as err:
        MedMNIST(_write(tmp_path / "toy.npz", images, labels))
    assert "num_classes" not in str(err.value)


def test_mismatched_counts(tmp_path: Path) -> None:
    images, labels = _arrays()
    labels["train"] = labels["train"][:4]
    with pytest.raises(MedMNISTFormatError, match="train has 6 images but 4 labels"):
        MedMNIST(_write(tmp_path / "toy.npz", images, labels))


def test_bad_shapes(tmp_path: Path) -> None:
    images, labels = _arrays()
    labels["train"] = np.zeros((6, 14), np.uint8)
    with pytest.raises(MedMNISTFormatError, match="multi-label"):
        MedMNIST(_write(tmp_path / "a.npz", images, labels))
    images, labels = _arrays()
    images["val"] = images["val"][:, :4]
    with pytest.raises(MedMNISTFormatError, match="per-image shape"):
        MedMNIST(_write(tmp_path / "b.npz", images, labels))


def test_not_an_npz(tmp_path: Path) -> None:
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(MedMNISTFormatError, match=r"not an \.npz"):
        MedMNIST(path)


def test_channel_stats_and_normalization(tmp_path: Path) -> None:
    path = _write(tmp_path / "toy.npz", *_arrays((8, 8, 3)))
    ds = MedMNIST(path, "train")
    mean, std = ds.channel_stats(chunk=4)
    raw = np.load(path)["train_images"] / 255.0
    np.testing.assert_allclose(mean, raw.mean((0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(std, raw.std((0, 1, 2)), rtol=1e-6)
    x = torch.stack([ds.set_normalization(mean, std)[i][0] for i in range(len(ds))])
    torch.testing.assert_close(x.mean((0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("train_labels", "message"),
    [
        ([0, 2, 0, 2, 0, 2], r"1 of 3 classes \(inferred count.*never occur in train_labels: 1\b"),
        ([1, 2, 1, 2, 1, 2], r"never occur in train_labels: 0\b"),
        ([0, 9, 0, 9, 0, 9], r"8 of 10 classes .*: 1, 2, 3, 4, 5, 6, 7, 8\. Labels must be"),
        ([1, 1, 1, 1, 1, 1], r"train_labels hold 1 class\(es\) \[1\]; .* at least two"),
    ],
    ids=["gap", "one_based", "sparse", "one_class"],
)
def test_labels_must_be_contiguous_with_two_classes(tmp_path: Path, train_labels, message) -> None:
    images, labels = _arrays(classes=2)
    labels = {s: np.asarray(train_labels, np.uint8)[:, None] for s in labels}
    with pytest.raises(MedMNISTFormatError, match=message):
        MedMNIST(_write(tmp_path / "my_scans.npz", images, labels), "val")


def test_known_flag_missing_a_class_in_train(tmp_path: Path) -> None:
    images, labels = _arrays(classes=2)
    with pytest.raises(MedMNISTFormatError, match=r"7 classes \(official count"):
        MedMNIST(_write(tmp_path / "dermamnist.npz", images, labels))


def test_given_num_classes_may_leave_classes_out(tmp_path: Path) -> None:
    ds = MedMNIST(_write(tmp_path / "toy.npz", *_arrays(classes=2)), "train", num_classes=4)
    assert ds.num_classes == 4


def test_corrupt_npz_names_the_file(tmp_path: Path) -> None:
    import zipfile

    path = _write(tmp_path / "toy.npz", *_arrays())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("train_images.npy")
    data = bytearray(path.read_bytes())
    local = info.header_offset
    start = local + 30 + int.from_bytes(data[local + 26 : local + 28], "little")
    start += int.from_bytes(data[local + 28 : local + 30], "little")
    data[start + info.compress_size - 1] ^= 0xFF  # last pixel: the CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(MedMNISTFormatError, match=rf"{path} is corrupt: reading train_images"):
        MedMNIST(path, "train")
