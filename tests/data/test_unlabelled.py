"""Unlabelled image sources: .npz files and folders of images, combined."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hybridnets.data.images import read_image
from hybridnets.data.unlabelled import UnlabelledImages


def _npz(path: Path, n: int = 5, size: int = 8) -> Path:
    images = np.full((n, size, size), 51, dtype=np.uint8)
    labels = (np.arange(n) % 2)[:, None]
    np.savez(
        path,
        **{f"{s}_images": images for s in ("train", "val", "test")},
        **{f"{s}_labels": labels for s in ("train", "val", "test")},
    )
    return path


def _pngs(folder: Path, n: int, size: int, mode: str = "L") -> Path:
    (folder / "sub").mkdir(parents=True)
    for i in range(n):
        shape = (size, size) if mode == "L" else (size, size, 3)
        Image.fromarray(np.full(shape, 255, dtype=np.uint8), mode).save(folder / "sub" / f"{i}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_npz_and_folder_combine_after_resizing(tmp_path: Path) -> None:
    images = UnlabelledImages([_npz(tmp_path / "a.npz"), _pngs(tmp_path / "pngs", 3, 12)], size=8)
    assert images.images.shape == (8, 1, 8, 8) and images.spatial_dims == 2
    assert images.images[:5].allclose(torch.tensor(0.2)) and images.images[5:].allclose(
        torch.tensor(1.0)
    )
    mean, std = images.channel_stats()
    images.set_normalization(mean, std)
    x = images.batch(torch.arange(8))
    assert x.mean().abs() < 1e-5 and (x.std(unbiased=False) - 1).abs() < 1e-4


def test_rgb_images_become_grey_or_stay_rgb(tmp_path: Path) -> None:
    folder = _pngs(tmp_path / "rgb", 2, 8, mode="RGB")
    assert UnlabelledImages([folder]).in_chans == 3
    assert UnlabelledImages([folder], in_chans=1).in_chans == 1


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        UnlabelledImages([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no images"):
        UnlabelledImages([tmp_path / "empty"])
    a, b = _npz(tmp_path / "a.npz", size=8), _pngs(tmp_path / "big", 2, 12)
    with pytest.raises(ValueError, match=r"pass a common size \(`input_size`\)"):
        UnlabelledImages([a, b])
    with pytest.raises(ValueError, match="no data sources"):
        UnlabelledImages([])
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(OSError, match=r"cannot read image .*bad.png"):
        read_image(tmp_path / "bad.png")


def test_volumes_through_monai(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel", reason="NIfTI volumes need nibabel (pip install nibabel)")
    volume = np.linspace(-1000, 1000, 6 * 7 * 8, dtype=np.float32).reshape(6, 7, 8)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), tmp_path / "ct.nii.gz")
    x = read_image(tmp_path / "ct.nii.gz", in_chans=1, size=8, spatial_dims=3)
    assert x.shape == (1, 8, 8, 8) and x.min() >= 0 and x.max() <= 1
    with pytest.raises(ValueError, match=r"is 3D .* but 2D inputs are expected"):
        read_image(tmp_path / "ct.nii.gz", spatial_dims=2)


def test_image_text_sources_give_their_training_images(tmp_path: Path, medpix_like) -> None:
    """A MedPix folder gives its train split, padded to a square as the alignment recipe
    reads it; a table without a split column gives every row; captions are ignored."""
    root = medpix_like(tmp_path / "medpix2", n=4)
    images = UnlabelledImages([root], size=16, in_chans=1)
    assert images.images.shape == (4, 1, 16, 16)
    top, middle = images.images[:, 0, 0, 8], images.images[:, 0, 8, 8]
    assert (top == 0).all() and (middle > 0.2).all()  # 40×20 images: black bands above
    (tmp_path / "t").mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8), 255, dtype=np.uint8)).save(tmp_path / "t" / f"{i}.png")
    table = tmp_path / "t" / "pairs.csv"
    table.write_text("image,text\n0.png,a\n1.png,b\n2.png,c\n")
    both = UnlabelledImages([table, root], size=16, in_chans=1)
    assert len(both) == 7 and both.names == [str(table), str(root)]
