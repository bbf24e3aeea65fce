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

__all__ = ["IMAGE_SUFFIXES", "VOLUME_SUFFIXES", "is_image_file", "read_image", "resize", "to_uint8"]

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


def resize(x: torch.Tensor, size: int, antialias: bool = False) -> torch.Tensor:
    """A batch ``(B, C, *S)`` → ``(B, C, size, ...)``, bilinear (2D) or trilinear (3D),
    unchanged when it already has that size; ``antialias`` smooths 2D downsizing."""
    dims = x.ndim - 2
    if tuple(x.shape[2:]) == (size,) * dims:
        return x
    mode = "bilinear" if dims == 2 else "trilinear"
    return F.interpolate(
        x, size=(size,) * dims, mode=mode, align_corners=False, antialias=antialias and dims == 2
    )


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] → uint8 (rounded): how files are held in memory, like MedMNIST's."""
    return x.mul(255).round_().to(torch.uint8)


def _read_npy(path: Path) -> np.ndarray:
    """A ``.npy`` volume ``(D, H, W)`` or ``(C, D, H, W)``, taken as stored (float32)."""
    array = np.load(path, allow_pickle=False)
    if array.ndim not in (3, 4):
        raise ValueError(f"{path}: a volume must be (D, H, W) or (C, D, H, W), got {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float32)


def _pad_square(x: torch.Tensor) -> torch.Tensor:
    """``(C, H, W)`` → ``(C, S, S)`` with ``S = max(H, W)``, centred on black."""
    h, w = x.shape[1:]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    return F.pad(x, (left, side - w - left, top, side - h - top))


def read_image(
    path: str | Path,
    in_chans: int | None = None,
    size: int | None = None,
    spatial_dims: int | None = None,
    square: bool = False,
    antialias: bool = False,
) -> torch.Tensor:
    """``path`` → float32 ``(in_chans, *S)`` in [0, 1], resized to ``size`` per side if given.

    Grey files give 1 channel (repeated to ``in_chans``); RGB files 3 (averaged to grey when
    ``in_chans`` is 1); ``in_chans=None`` keeps the file's own. ``spatial_dims`` (2 or 3)
    checks the file's rank. ``.npy`` volumes ``(D, H, W)`` or ``(C, D, H, W)`` are taken as
    stored. ``square`` pads a 2D image to a square (centred, black) before resizing, keeping
    its aspect; ``antialias`` smooths 2D downsizing (see :func:`resize`).

    Raises:
        OSError: The file cannot be read (the message names it and the reader to install).
        ValueError: Its rank or channels do not fit, or it holds NaN or inf.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".npy"):
        array = _read_npy(path)
        grey = array.ndim == 3
    elif name.endswith(IMAGE_SUFFIXES):
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
            f"{path}: unknown image type; use one of {(*IMAGE_SUFFIXES, *VOLUME_SUFFIXES, '.npy')}"
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = int(array.size - np.isfinite(array).sum())
        raise ValueError(
            f"{path}: {bad} of {array.size} values are not finite (NaN or inf); repair the file "
            "or leave it out"
        )
    x = torch.from_numpy(array) if name.endswith(".npy") else _to_unit_range(array)
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
    if square and dims == 2:
        x = _pad_square(x)
    if size is not None:
        x = resize(x[None], size, antialias)[0]
    return x.contiguous()
