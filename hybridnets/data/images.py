"""Read one image or volume file into a float tensor ``(C, *S)`` in [0, 1], 2D or 3D.

PNG / JPEG / BMP / TIFF through PIL; NIfTI (``.nii``, ``.nii.gz``), DICOM (``.dcm``), NRRD and
MetaImage through MONAI's ``LoadImage`` (its readers need ``nibabel`` / ``pydicom`` / ``itk``).
8-bit images are divided by 255; any other intensity range (CT in HU, MR) is rescaled per file
from its 0.5th–99.5th percentile to [0, 1], so one folder can mix scanners.

    x = read_image("scan.nii.gz", in_chans=1, size=64)     # (1, 64, 64, 64)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["IMAGE_SUFFIXES", "VOLUME_SUFFIXES", "is_image_file", "read_image"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VOLUME_SUFFIXES = (".nii", ".nii.gz", ".dcm", ".nrrd", ".mha", ".mhd")


def is_image_file(path: Path) -> bool:
    """Whether ``path`` has a suffix :func:`read_image` reads."""
    name = path.name.lower()
    return name.endswith(IMAGE_SUFFIXES) or name.endswith(VOLUME_SUFFIXES)


def _read_pil(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("L") if img.mode in ("1", "L", "P", "I;16", "I", "F") else img
        array = np.asarray(img.convert("RGB") if img.mode not in ("L", "RGB") else img)
    return array if array.ndim == 2 else array.transpose(2, 0, 1)  # (H, W) or (3, H, W)


def _read_monai(path: Path) -> np.ndarray:
    try:
        from monai.transforms import LoadImage
    except ImportError as err:  # pragma: no cover - monai is a core dependency
        raise ImportError(f"reading {path} needs MONAI: pip install monai") from err
    try:
        array = LoadImage(image_only=True, ensure_channel_first=False)(str(path))
    except Exception as err:  # MONAI raises RuntimeError/OptionalImportError per missing reader
        raise OSError(
            f"cannot read volume {path}: {err}. NIfTI needs `pip install nibabel`, DICOM "
            "`pip install pydicom`, NRRD/MetaImage `pip install itk`"
        ) from err
    return np.asarray(array)


def _to_unit_range(array: np.ndarray) -> torch.Tensor:
    if array.dtype == np.uint8:
        return torch.from_numpy(array.astype(np.float32) / 255.0)
    x = array.astype(np.float32)
    low, high = (float(v) for v in np.percentile(x, (0.5, 99.5)))  # Python floats keep float32
    scale = high - low if high > low else 1.0
    return torch.from_numpy(np.clip((x - low) / scale, 0.0, 1.0).astype(np.float32, copy=False))


def read_image(
    path: str | Path,
    in_chans: int | None = None,
    size: int | None = None,
    spatial_dims: int | None = None,
) -> torch.Tensor:
    """``path`` → float32 ``(in_chans, *S)`` in [0, 1], resized to ``size`` per side if given.

    Grey files give 1 channel (repeated to ``in_chans``); RGB files 3 (averaged to grey when
    ``in_chans`` is 1); ``in_chans=None`` keeps the file's own. ``spatial_dims`` (2 or 3) checks the file's rank.

    Raises:
        OSError: The file cannot be read (the message names it and the reader to install).
        ValueError: Its rank or channels do not fit.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(IMAGE_SUFFIXES):
        try:
            array = _read_pil(path)
        except OSError as err:
            raise OSError(f"cannot read image {path}: {err}") from err
        grey = array.ndim == 2
    elif name.endswith(VOLUME_SUFFIXES):
        array = _read_monai(path).squeeze()
        grey = True
    else:
        raise ValueError(
            f"{path}: unknown image type; use one of {IMAGE_SUFFIXES + VOLUME_SUFFIXES}"
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = int(array.size - np.isfinite(array).sum())
        raise ValueError(
            f"{path}: {bad} of {array.size} values are not finite (NaN or inf); repair the file "
            "or leave it out"
        )
    x = _to_unit_range(array)
    x = x[None] if grey else x  # (C, *S)
    dims = x.ndim - 1
    if spatial_dims is not None and dims != spatial_dims:
        raise ValueError(
            f"{path} is {dims}D (shape {tuple(x.shape[1:])}) but {spatial_dims}D inputs are "
            "expected; keep 2D and 3D files in separate sources"
        )
    if in_chans is not None and x.shape[0] != in_chans:
        if x.shape[0] == 1:
            x = x.expand(in_chans, *x.shape[1:])
        elif in_chans == 1:
            x = x.mean(0, keepdim=True)
        else:
            raise ValueError(f"{path} has {x.shape[0]} channels, cannot make {in_chans}")
    if size is not None and tuple(x.shape[1:]) != (size,) * dims:
        mode = "bilinear" if dims == 2 else "trilinear"
        x = F.interpolate(x[None], size=(size,) * dims, mode=mode, align_corners=False)[0]
    return x.contiguous()
