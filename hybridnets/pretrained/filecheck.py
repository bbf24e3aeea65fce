"""What a weight file really is, checked before a loader trips over it.

    problem = checkpoint_problem(Path("w.safetensors"))  # None, or "it is an HTML page ..."

A server's error page saved as ``.pth``, a transfer cut short or a damaged header otherwise
surface as ``SafetensorError: header too small`` (without a path) or as torch's advice to turn
off ``weights_only``. These checks read a few bytes (the safetensors header, a zip archive's
central directory) and say what the file is instead. Standard library only.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

__all__ = ["CheckpointFileError", "checkpoint_problem", "remedy"]

_HEAD = 1024  # bytes sniffed to recognise HTML, text and the binary formats
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # torch.save's default format is a zip archive
_PICKLE_MAGIC = b"\x80"  # torch.save(_use_new_zipfile_serialization=False): a bare pickle
_MAX_SAFETENSORS_HEADER = 100_000_000  # safetensors' own limit


class CheckpointFileError(ValueError):
    """A file that should hold weights is empty, truncated, corrupt or not a checkpoint at all."""


def checkpoint_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be a safetensors or torch checkpoint; None when it looks like one.

    Recognises empty files, HTML pages, text, gzip data, safetensors files whose header is
    damaged or whose data is cut short, and zip archives (torch's format) without a readable
    central directory, i.e. cut short. Reads the header, never the tensors.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        return "it is empty (0 bytes)"
    with open(path, "rb") as f:
        head = f.read(_HEAD)
    kind = _foreign_kind(head)
    if kind is not None:
        return f"it is {kind}, not a checkpoint"
    if path.suffix == ".safetensors" or _looks_like_safetensors(head):
        return _safetensors_problem(path, size)
    if head.startswith(_ZIP_MAGIC):
        return _zip_problem(path, size)
    if head.startswith(_PICKLE_MAGIC):
        return None  # legacy torch format: only torch.load can tell
    return (
        f"it is neither a safetensors file nor a torch checkpoint (a zip archive or a pickle); "
        f"its first bytes are {head[:16].hex(' ')}"
    )


def remedy(path: str | Path) -> str:
    """What to do about a bad file at ``path``: delete a cached download, else replace it."""
    from hybridnets.pretrained.fetch import cache_dir

    path = Path(path)
    if path.resolve().is_relative_to(cache_dir().resolve()):
        return f"It is a cached download: delete it (rm '{path}') and it will be downloaded again."
    return "Download or save the file again."


def _foreign_kind(head: bytes) -> str | None:
    """``"an HTML page (title '404 Not Found')"``, ``"text ..."``, ``"gzip data"`` or None."""
    lowered = head.lower()
    if lowered.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"<!doctype html", b"<html")) or (
        b"<html" in lowered
    ):
        title = re.search(rb"<title[^>]*>([^<]{1,120})", head, re.IGNORECASE)
        named = f" (title {title.group(1).decode(errors='replace').strip()!r})" if title else ""
        return f"an HTML page{named}, as servers send for errors and log-in pages"
    if head.startswith(b"\x1f\x8b"):
        return "gzip-compressed data"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 3:  # not just a character cut at the end of the sniffed bytes
            return None
        text = head[: e.start].decode("utf-8")
    if text and all(c.isprintable() or c in "\t\r\n" for c in text):
        return f"a text file (it starts with {text[:80]!r})"
    return None


def _looks_like_safetensors(head: bytes) -> bool:
    """An 8-byte little-endian header length, then a JSON object."""
    return (
        len(head) > 8
        and head[8:9] == b"{"
        and int.from_bytes(head[:8], "little") <= _MAX_SAFETENSORS_HEADER
    )


def _safetensors_problem(path: Path, size: int) -> str | None:
    if size < 8:
        return f"it has {size} bytes, fewer than the 8-byte header length of a safetensors file"
    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        if length > min(size - 8, _MAX_SAFETENSORS_HEADER):
            return (
                f"it is not a complete safetensors file: its first 8 bytes announce a "
                f"{length}-byte header, but the file has {size} bytes in all"
            )
        raw = f.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"its {length}-byte safetensors header is not valid JSON ({e})"
    if not isinstance(header, dict):
        return "its safetensors header is not a JSON object"
    ends = []
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2):
            return f"its safetensors header entry {key!r} has no valid data_offsets"
        ends.append(offsets[1])
    expected, held = max(ends, default=0), size - 8 - length
    if held < expected:
        return (
            f"it is truncated: its safetensors header describes {expected} bytes of tensor "
            f"data, the file holds {held}"
        )
    if held > expected:
        return (
            f"its safetensors header describes {expected} bytes of tensor data, but the file "
            f"holds {held}: it is corrupt"
        )
    return None


def _zip_problem(path: Path, size: int) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        return (
            f"it is a zip archive (torch's checkpoint format) without a readable central "
            f"directory ({e}): it was cut short or is corrupt ({size} bytes)"
        )
    if not any(name.endswith("data.pkl") for name in names):
        return "it is a zip archive without data.pkl, not a torch checkpoint"
    return None
