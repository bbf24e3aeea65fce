"""Unlabelled images for self-supervised pretraining: MedMNIST ``.npz`` files (labels ignored),
folders of images or volumes, and the images of image–text sources (a MedPix 2.0 folder, a
CSV/JSONL table of pairs; captions ignored), several sources combined into one set.

    images = UnlabelledImages(["pneumoniamnist.npz", "extra_xrays/"], size=28)
    images.set_normalization(*images.channel_stats())
    x = images.batch(torch.arange(32))      # (32, 1, 28, 28) float, standardised
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from hybridnets.data.images import is_image_file, read_image, resize
from hybridnets.data.in_memory import InMemoryImages
from hybridnets.data.medmnist import MedMNIST
from hybridnets.data.pairs import has_split, is_pairs_source, load_pairs

__all__ = ["UnlabelledImages"]

_logger = logging.getLogger(__name__)


class UnlabelledImages(InMemoryImages):
    """Every image of ``sources`` as one float tensor ``(N, C, *S)`` in [0, 1], in memory.

    Args:
        sources: ``.npz`` files in MedMNIST format (their ``split`` is read, labels ignored),
            image–text sources as ``python -m hybridnets.align`` reads them (a MedPix 2.0
            folder or a ``.csv``/``.jsonl`` table; the images of ``split``, or every row of a
            table without a split column; 2D ones padded to a square as the alignment recipe
            pads them) and folders (searched recursively for
            :data:`~hybridnets.data.images.IMAGE_SUFFIXES` and volume files).
        size: Resize every image to this edge length; needed when sources differ in size.
        in_chans: Channels to convert to (default: those of the first source).
        split: Which split of ``.npz`` sources to read.
        allow_outside_paths: Tables: follow image paths that lead outside the table's folder
            (absolute, ``../``); off: such a row is refused.

    Raises:
        FileNotFoundError: A source does not exist, or a folder holds no image.
        ValueError: Sources disagree in rank, or in size without ``size``.
    """

    def __init__(
        self,
        sources: Sequence[str | Path],
        size: int | None = None,
        in_chans: int | None = None,
        split: str = "train",
        allow_outside_paths: bool = False,
    ) -> None:
        if isinstance(sources, (str, Path)):
            sources = [sources]
        if not sources:
            raise ValueError("no data sources given: pass .npz files and/or image folders")
        parts, self.names = [], []
        for source in sources:
            x = self._read(Path(source), size, in_chans, split, allow_outside_paths)
            in_chans = in_chans or x.shape[1]
            if parts and x.shape[2:] != parts[0].shape[2:]:
                raise ValueError(
                    f"{source} holds {tuple(x.shape[2:])} images, {self.names[0]} "
                    f"{tuple(parts[0].shape[2:])}: pass a common size (`input_size`)"
                )
            parts.append(x)
            self.names.append(str(source))
            _logger.info("%s: %d images %s", source, len(x), tuple(x.shape[1:]))
        self.images = torch.cat(parts)  # (N, C, *S) float in [0, 1]

    @staticmethod
    def _read(
        source: Path, size: int | None, in_chans: int | None, split: str, allow_outside: bool
    ) -> torch.Tensor:
        if not source.exists():
            raise FileNotFoundError(f"data source {str(source)!r} does not exist")
        if is_pairs_source(source):  # a table without a split column: every row
            rows = split if has_split(source, split) else None
            return load_pairs(
                source, rows, in_chans or 1, size, allow_outside_paths=allow_outside
            ).images
        if source.is_file():
            if source.suffix != ".npz":
                raise ValueError(
                    f"{source}: a file source must be a MedMNIST .npz or a .csv/.jsonl table of "
                    "image–text pairs; or pass its folder"
                )
            ds = MedMNIST(source, split)
            x = ds.images.float().div_(255.0)  # (N, C, *S)
            if in_chans is not None and x.shape[1] != in_chans:
                x = x.mean(1, keepdim=True).expand(-1, in_chans, *x.shape[2:]).contiguous()
            return resize(x, size) if size is not None else x
        files = sorted(p for p in source.rglob("*") if p.is_file() and is_image_file(p))
        if not files:
            raise FileNotFoundError(
                f"folder {source} holds no images (PNG/JPEG/BMP/TIFF) or volumes (NIfTI/DICOM/"
                "NRRD/MetaImage)"
            )
        channels = in_chans or read_image(files[0]).shape[0]
        images = [read_image(f, channels, size) for f in files]
        shapes = {tuple(x.shape) for x in images}
        if len(shapes) > 1:
            raise ValueError(
                f"images in {source} differ in shape ({sorted(shapes)[:3]}...): pass `input_size`"
            )
        return torch.stack(images)
