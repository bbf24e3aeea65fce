"""MedMNIST ``.npz`` files as a torch ``Dataset``, 2D and 3D, any size variant.

MedMNIST v2: Yang et al., "MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D
biomedical image classification", Scientific Data 10, 41 (2023). Data licence CC BY 4.0.

    ds = MedMNIST("pneumoniamnist.npz", "train")
    image, label = ds[0]          # float tensor (1, 28, 28) in [0, 1], int label
"""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from hybridnets.data.arrays import ImageArray

__all__ = ["MEDMNIST_NUM_CLASSES", "SPLITS", "MedMNIST", "MedMNISTFormatError"]

_logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")

# Class counts of the official single-label MedMNIST v2 datasets (medmnist.INFO).
MEDMNIST_NUM_CLASSES: dict[str, int] = {
    "pathmnist": 9,
    "dermamnist": 7,
    "octmnist": 4,
    "pneumoniamnist": 2,
    "retinamnist": 5,
    "breastmnist": 2,
    "bloodmnist": 8,
    "tissuemnist": 8,
    "organamnist": 11,
    "organcmnist": 11,
    "organsmnist": 11,
    "organmnist3d": 11,
    "nodulemnist3d": 2,
    "adrenalmnist3d": 2,
    "fracturemnist3d": 3,
    "vesselmnist3d": 2,
    "synapsemnist3d": 2,
}

_WHERE_FROM = (
    "MedMNIST files are not downloaded by hybridnets. Get them from https://medmnist.com "
    "(Zenodo record 10.5281/zenodo.10519652) or with `pip install medmnist` and "
    "`python -m medmnist save --flag=<name> --postfix=npz`. The expected .npz holds the keys "
    + ", ".join(f"{s}_images, {s}_labels" for s in SPLITS)
    + " with uint8 images (N, H, W), (N, H, W, 3) or (N, D, H, W) and labels (N,) or (N, 1)."
)


# What reading a damaged .npz raises: bad CRC, cut-short or garbled compressed data or headers.
_DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


class MedMNISTFormatError(ValueError):
    """A MedMNIST file whose keys, shapes, dtypes or labels are not the official format."""


def _array_header(npz: zipfile.ZipFile, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of array ``key`` in an ``.npz`` without decompressing its data."""
    with npz.open(f"{key}.npy") as f:
        major, _ = np.lib.format.read_magic(f)
        read = (
            np.lib.format.read_array_header_1_0
            if major == 1
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read(f)
    return tuple(shape), dtype


def _dataset_name(path: Path) -> str:
    """``adrenalmnist3d_64.npz`` -> ``adrenalmnist3d`` (strips the size suffix)."""
    return re.sub(r"_\d+$", "", path.stem.lower())


class MedMNIST(ImageArray, Dataset):
    """One split of a MedMNIST ``.npz`` file (single-label classification).

    Images are held in memory as a uint8 tensor ``images`` of shape ``(N, C, *S)`` and
    converted per item to float in [0, 1], then normalised with ``mean``/``std`` when given.
    Grey images get a channel dim; RGB ``(N, H, W, 3)`` is moved to channels-first.

    Args:
        path: The ``.npz`` file.
        split: ``"train"``, ``"val"`` or ``"test"``.
        transform: Optional callable applied to each float image tensor ``(C, *S)``.
        target_transform: Optional callable applied to each int label.
        mean: Per-channel (or scalar) mean subtracted after scaling to [0, 1].
        std: Per-channel (or scalar) std divided by after subtracting ``mean``.
        num_classes: Number of classes; default: the official count for known file names,
            else ``1 + max label`` over all splits. Unless it is given, every class must occur
            in the training split (labels ``0 .. num_classes - 1``, none skipped).
        spatial_dims: 2 or 3; only needed when a 4D array is ambiguous (default: a 4D array
            whose last dim is 3 and whose H equals W is RGB 2D, otherwise grey 3D).

    Raises:
        FileNotFoundError: The file does not exist (the message says where to get it).
        MedMNISTFormatError: Keys, shapes, dtypes, counts or labels are wrong, or the file is
            corrupt (the message names the file).
    """

    def __init__(
        self,
        path: str | Path,
        split: str = "train",
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        target_transform: Callable[[int], int] | None = None,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
        num_classes: int | None = None,
        spatial_dims: int | None = None,
    ) -> None:
        self.path = Path(path)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if not self.path.is_file():
            raise FileNotFoundError(f"MedMNIST file {str(self.path)!r} not found. {_WHERE_FROM}")
        self.split = split
        self.transform = transform
        self.target_transform = target_transform
        self.name = _dataset_name(self.path)

        label_sets = self._validate(spatial_dims)
        self.num_classes = self._check_labels(label_sets, num_classes)
        images = self._read(f"{split}_images")
        self.images = self._to_channels_first(torch.from_numpy(images))  # (N, C, *S) uint8
        self.labels = torch.from_numpy(label_sets[split].astype(np.int64))  # (N,)
        self.set_normalization(mean, std)
        _logger.info(
            "MedMNIST %s/%s: %d images %s, %d classes",
            self.name,
            split,
            len(self),
            tuple(self.images.shape[1:]),
            self.num_classes,
        )

    def _validate(self, spatial_dims: int | None) -> dict[str, np.ndarray]:
        """Check keys, dtypes, shapes and counts; return the labels of every split as (N,)."""
        try:
            zf = zipfile.ZipFile(self.path)
        except zipfile.BadZipFile as err:
            raise MedMNISTFormatError(f"{self.path} is not an .npz file. {_WHERE_FROM}") from err
        with zf:
            keys = {n.removesuffix(".npy") for n in zf.namelist()}
            expected = {f"{s}_{kind}" for s in SPLITS for kind in ("images", "labels")}
            if missing := sorted(expected - keys):
                raise MedMNISTFormatError(
                    f"{self.path}: missing key(s) {missing}; found {sorted(keys)}. {_WHERE_FROM}"
                )
            headers = {}
            for key in sorted(expected):
                try:
                    headers[key] = _array_header(zf, key)
                except _DAMAGE as err:
                    raise self._corrupt(key, err) from err

        spatial = None
        for split in SPLITS:
            (ishape, idtype), (lshape, ldtype) = (
                headers[f"{split}_images"],
                headers[f"{split}_labels"],
            )
            if idtype != np.uint8:
                raise MedMNISTFormatError(
                    f"{self.path}: {split}_images has dtype {idtype}, expected uint8"
                )
            if ldtype.kind not in "iu":
                raise MedMNISTFormatError(
                    f"{self.path}: {split}_labels has dtype {ldtype}, expected an integer dtype"
                )
            if len(ishape) not in (3, 4):
                raise MedMNISTFormatError(
                    f"{self.path}: {split}_images has shape {ishape}; expected (N, H, W), "
                    "(N, H, W, 3) or (N, D, H, W)"
                )
            if len(lshape) not in (1, 2) or (len(lshape) == 2 and lshape[1] != 1):
                raise MedMNISTFormatError(
                    f"{self.path}: {split}_labels has shape {lshape}; expected (N,) or (N, 1) "
                    "(multi-label files such as ChestMNIST are not supported)"
                )
            if ishape[0] != lshape[0]:
                raise MedMNISTFormatError(
                    f"{self.path}: {split} has {ishape[0]} images but {lshape[0]} labels"
                )
            if spatial is None:
                spatial = ishape[1:]
            elif ishape[1:] != spatial:
                raise MedMNISTFormatError(
                    f"{self.path}: {split}_images has per-image shape {ishape[1:]}, "
                    f"but an earlier split has {spatial}"
                )
        self._layout = self._layout_of(spatial, spatial_dims)
        return {s: self._read(f"{s}_labels").reshape(-1) for s in SPLITS}

    def _read(self, key: str) -> np.ndarray:
        """Array ``key``, with a damaged file (bad CRC, cut short) named in the error."""
        try:
            with np.load(self.path) as npz:
                return npz[key]
        except _DAMAGE as err:
            raise self._corrupt(key, err) from err

    def _corrupt(self, key: str, err: Exception) -> MedMNISTFormatError:
        return MedMNISTFormatError(
            f"{self.path} is corrupt: reading {key} failed ({err}). Download the file again. "
            f"{_WHERE_FROM}"
        )

    def _layout_of(self, shape: tuple[int, ...], spatial_dims: int | None) -> str:
        """``"grey2d"``, ``"rgb2d"`` or ``"grey3d"`` from the per-image shape."""
        if len(shape) == 2:
            layout = "grey2d"
        elif spatial_dims is not None:
            layout = "rgb2d" if spatial_dims == 2 else "grey3d"
        else:
            layout = "rgb2d" if shape[-1] == 3 and shape[0] == shape[1] != 3 else "grey3d"
        if spatial_dims is not None and spatial_dims != (2 if layout != "grey3d" else 3):
            raise MedMNISTFormatError(
                f"{self.path}: per-image shape {shape} cannot be spatial_dims={spatial_dims}"
            )
        if layout == "rgb2d" and shape[-1] != 3:
            raise MedMNISTFormatError(
                f"{self.path}: per-image shape {shape} is not RGB (N, H, W, 3)"
            )
        return layout

    def _check_labels(self, labels: dict[str, np.ndarray], num_classes: int | None) -> int:
        """Resolve ``num_classes``; check every label lies in ``[0, num_classes)``, the training
        split holds at least two classes and (unless ``num_classes`` was given) all of them."""
        given = num_classes is not None
        if num_classes is None:
            num_classes = MEDMNIST_NUM_CLASSES.get(self.name)
        source = "given" if given else "official" if num_classes is not None else "inferred"
        if num_classes is None:  # the training split defines the classes
            num_classes = 1 + int(labels["train"].max()) if labels["train"].size else 0
        for split, values in labels.items():
            outside = np.flatnonzero((values < 0) | (values >= num_classes))
            if outside.size:
                first = int(outside[0])
                raise MedMNISTFormatError(
                    f"{self.path}: {split}_labels[{first}] is {int(values.flat[first])} "
                    f"({outside.size} label(s) outside [0, {num_classes})); {self.name!r} has "
                    f"{num_classes} classes ({source}{' from train_labels' if source == 'inferred' else ''}); "
                    f"fix the {split} labels"
                )
        present = np.unique(labels["train"]).tolist()
        if len(present) < 2:
            raise MedMNISTFormatError(
                f"{self.path}: train_labels hold {len(present)} class(es) {present}; "
                "classification needs at least two"
            )
        absent = sorted(set(range(num_classes)) - set(present))
        if absent and not given:
            shown = ", ".join(map(str, absent[:10])) + (", ..." if len(absent) > 10 else "")
            raise MedMNISTFormatError(
                f"{self.path}: {len(absent)} of {num_classes} classes ({source} count, labels 0 "
                f"to {num_classes - 1}) never occur in train_labels: {shown}. Labels must be "
                "0 .. K-1 with every class in the training split (renumber them, e.g. "
                "np.unique(labels, return_inverse=True))"
            )
        return num_classes

    def _to_channels_first(self, images: torch.Tensor) -> torch.Tensor:
        """(N, H, W) / (N, D, H, W) -> (N, 1, *S); (N, H, W, 3) -> (N, 3, H, W)."""
        if self._layout == "rgb2d":
            return images.permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W)
        return images.unsqueeze(1)  # (N, 1, *S)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.normalize(self.images[index])
        label = int(self.labels[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def __repr__(self) -> str:
        return (
            f"MedMNIST({self.name!r}, split={self.split!r}, n={len(self)}, "
            f"in_chans={self.in_chans}, spatial_shape={self.spatial_shape}, "
            f"num_classes={self.num_classes})"
        )
