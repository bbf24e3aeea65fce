"""Turn a ``pretrained`` argument into checkpoint tensors.

    checkpoint = resolve_source("convvit_t.in1k_timm", model)

Accepted sources: ``True`` (the model's default tag), a tag (``"convvit_t.in1k_timm"`` or the
bare ``"in1k_timm"``), a ``.safetensors`` or torch file, a folder written by
:func:`hybridnets.save_pretrained`, an ``http(s)://`` URL, ``hf-hub:org/repo[@revision]``, and
``timm:<model>.<tag>[+<model>.<tag>...]``: timm hub checkpoints, converted by the model family's
checkpoint filter (``filter_fn(parents, model)``, parents keyed by ``<model>.<tag>``).

``sha256`` pins the file a source names; for ``timm:a+b`` it is one digest per parent, joined
with ``+`` in the same order. Offline mode (``HYBRIDNETS_OFFLINE``, and ``HF_HUB_OFFLINE`` for
``hf-hub:`` and ``timm:``) reads only cached files and fails at once when one is missing.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from hybridnets.pretrained.fetch import (
    ChecksumError,
    DownloadError,
    OfflineError,
    download,
    file_sha256,
    offline_reason,
)
from hybridnets.pretrained.filecheck import checkpoint_problem
from hybridnets.pretrained.io import read_state_dict
from hybridnets.pretrained.registry import (
    TIMM_SOURCE_PREFIX,
    default_tag,
    find_pretrained,
    list_pretrained,
)

logger = logging.getLogger(__name__)

HF_PREFIX = "hf-hub:"
# A model family's conversion of timm checkpoints: (parents keyed by timm name, model) → tensors.
FilterFn = Callable[[Mapping[str, Mapping[str, torch.Tensor]], nn.Module], dict[str, torch.Tensor]]
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.pth", "model.pt")
CONFIG_FILE = "config.json"


@dataclass
class Checkpoint:
    """Tensors plus what is known about them.

    Attributes:
        state_dict: Parameter and buffer tensors.
        source: Human-readable origin (path, URL, tag).
        cfg: The registered tag's config, or the ``pretrained_cfg`` saved next to the weights.
        spatial_dims: Rank the checkpoint was trained in, when known.
    """

    state_dict: dict[str, torch.Tensor]
    source: str
    cfg: dict | None = None
    spatial_dims: int | None = None


def architecture_of(model: nn.Module) -> str | None:
    """The registered name of ``model`` (from ``hybridnets_config`` or ``pretrained_cfg``)."""
    config = getattr(model, "hybridnets_config", None) or {}
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return config.get("architecture") or cfg.get("architecture")


def resolve_source(
    source: bool | str | Path,
    model: nn.Module,
    sha256: str | None = None,
    filter_fn: FilterFn | None = None,
) -> Checkpoint:
    """Load the checkpoint that ``source`` names for ``model``.

    Args:
        source: See the module docstring; tags are looked up for ``model``'s architecture.
        model: The target (its registered name resolves ``True`` and bare tags).
        sha256: Expected digest of a downloaded or local file, or of a folder's weights (a
            tag brings its own); for ``timm:a+b`` sources, ``"<digest of a>+<digest of b>"``.
        filter_fn: Conversion of ``timm:`` sources into ``model``'s keys.

    Raises:
        ValueError: ``source`` is not a file, folder, URL, hub id or known tag.
        OfflineError: Offline mode is set and a file is not cached.
        ChecksumError: A file does not match ``sha256``.
    """
    architecture = architecture_of(model)
    if source is True:
        tag = default_tag(architecture) if architecture else None
        if tag is None:
            raise ValueError(
                f"no pretrained weights are registered for {architecture!r}; "
                f"registered tags: {list_pretrained() or 'none'}"
            )
        source = f"{architecture}.{tag}"
    if not isinstance(source, str | os.PathLike):
        raise TypeError(f"pretrained must be a bool, str or path, got {type(source).__name__}")
    text = os.fspath(source)
    if text.startswith(("http://", "https://")):
        return Checkpoint(read_state_dict(download(text, sha256, check=checkpoint_problem)), text)
    if text.startswith(HF_PREFIX):
        return _from_hub(text[len(HF_PREFIX) :], sha256)
    if text.startswith(TIMM_SOURCE_PREFIX):
        return _from_timm(text, model, filter_fn, sha256)
    path = Path(text).expanduser()
    if path.is_dir():
        return _from_folder(path, sha256)
    if path.is_file():
        _check_sha256(path, sha256)
        return Checkpoint(read_state_dict(path), str(path))
    found = find_pretrained(text, architecture)
    if found is not None:
        name, cfg = found
        checkpoint = resolve_source(cfg.source, model, sha256 or cfg.sha256, filter_fn)
        checkpoint.source = f"{name} ({checkpoint.source})"
        checkpoint.cfg = {"tag": name, **cfg.to_dict()}
        checkpoint.spatial_dims = cfg.spatial_dims
        return checkpoint
    raise ValueError(
        f"pretrained={text!r} is not an existing file or folder, an http(s) URL, "
        f"'{HF_PREFIX}org/repo', or a registered tag; tags for {architecture!r}: "
        f"{list_pretrained(f'{architecture}.*') or 'none'}"
    )


def _check_sha256(path: Path, sha256: str | None) -> None:
    if sha256 is None:
        return
    got = file_sha256(path)
    if got != sha256.lower():
        raise ChecksumError(f"sha256 mismatch for {path}: expected {sha256.lower()}, got {got}")


def read_saved_config(folder: str | Path) -> dict:
    """The ``config.json`` written by :func:`hybridnets.save_pretrained`.

    Returns:
        ``{"architecture": name, "kwargs": {...}, "pretrained_cfg": {...}}``; JSON lists in
        ``kwargs`` come back as tuples.

    Raises:
        FileNotFoundError: ``folder`` has no ``config.json``.
    """
    text = os.fspath(folder)
    if text.startswith(HF_PREFIX):
        path = _hub_file(text[len(HF_PREFIX) :], CONFIG_FILE)
    else:
        path = Path(text).expanduser() / CONFIG_FILE
        if not path.is_file():
            names = ("checkpoint.json", "recipe.json", "align.json")
            other = next((n for n in names if (path.parent / n).is_file()), None)
            hint = (
                f"; it holds a trained model of another kind ({other}): load it with "
                f"hybridnets.load({str(path.parent)!r}) and use its .model"
                if other
                else ""
            )
            raise FileNotFoundError(
                f"{path} not found: pretrained folders are written by hybridnets.save_pretrained"
                + hint
            )
    config = json.loads(path.read_text())
    if "architecture" not in config:
        raise ValueError(f"{path} has no 'architecture' entry")
    config["kwargs"] = {k: _tuples(v) for k, v in config.get("kwargs", {}).items()}
    return config


def _tuples(value: object) -> object:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


RUN_KWARGS = ("spatial_dims", "in_chans", "num_classes", "drop_path_rate")
"""Constructor arguments a saved ``config.json`` records that belong to the run, not to the
weights' architecture (a fine-tuning run sets its own)."""


def recorded_architecture(source: str | Path) -> tuple[str, dict] | None:
    """The architecture the weights of a local folder were trained as: ``(model name,
    constructor arguments)`` from its record (``checkpoint.json`` or an older one: a recipe's
    ``model`` and ``model_kwargs``) or, for a backbone, its ``config.json`` (without
    :data:`RUN_KWARGS`). None for a file, tag, URL or hub repository, which record none here.

        recorded_architecture("runs/mim/pretrained")    # ("convvit_n", {"stem_stride": 4})
    """
    # lazy: hybridnets.checkpoint imports the models, which import this package
    from hybridnets.checkpoint.record import read_record

    text = os.fspath(source)
    folder = Path(text).expanduser()
    if text.startswith(HF_PREFIX) or not folder.is_dir():
        return None
    found = read_record(folder)
    if found is not None and "model" in found[1]:
        kwargs = found[1].get("model_kwargs") or {}
        return found[1]["model"], {k: _tuples(v) for k, v in kwargs.items()}
    if (folder / CONFIG_FILE).is_file():
        config = read_saved_config(folder)
        kwargs = {k: v for k, v in config["kwargs"].items() if k not in RUN_KWARGS}
        return config["architecture"], kwargs
    return None


_BACKBONE_PREFIX = {"fusion": "image.", "aligned": "image.backbone."}
"""Where the image backbone's weights sit in the checkpoint of a fusion classifier or an
aligned image-text model (``checkpoint.json``'s ``kind``)."""


def _backbone_of(folder: Path, state: dict) -> tuple[dict, int | None]:
    """The image backbone's weights (and spatial dims) of a fusion or aligned checkpoint
    folder; ``state`` unchanged for any other folder."""
    record = folder / "checkpoint.json"
    if not record.is_file():
        return state, None
    meta = json.loads(record.read_text())
    prefix = _BACKBONE_PREFIX.get(meta.get("kind"))
    if prefix is None:
        return state, None
    inner = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return inner, meta.get("spatial_dims")


def _from_folder(folder: Path, sha256: str | None = None) -> Checkpoint:
    weights = next((folder / f for f in WEIGHT_FILES if (folder / f).is_file()), None)
    if weights is None:
        raise FileNotFoundError(f"{folder} holds none of {', '.join(WEIGHT_FILES)}")
    _check_sha256(weights, sha256)
    cfg, dims = None, None
    if (folder / CONFIG_FILE).is_file():
        config = read_saved_config(folder)
        cfg = config.get("pretrained_cfg")
        dims = config["kwargs"].get("spatial_dims", (cfg or {}).get("spatial_dims"))
    state, inner_dims = _backbone_of(folder, read_state_dict(weights))
    return Checkpoint(state, str(folder), cfg, dims or inner_dims)


def _hub_file(repo: str, filename: str) -> Path:
    """Download ``filename`` of ``org/repo[@revision]`` with huggingface_hub (lazy import).

    Offline (``HYBRIDNETS_OFFLINE`` or ``HF_HUB_OFFLINE``) only the local Hugging Face cache is
    read. A file that is neither reachable nor cached raises at once with the real cause,
    rather than being mistaken for a file the repository lacks.

    Raises:
        OfflineError: Offline mode is set and the file is not in the Hugging Face cache.
        DownloadError: The Hub cannot be reached and the file is not cached.
        huggingface_hub.errors.EntryNotFoundError: The repository has no such file.
    """
    try:
        import huggingface_hub
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError as e:
        raise ImportError(
            "'hf-hub:' sources need huggingface_hub: pip install huggingface_hub"
        ) from e
    repo_id, _, revision = repo.partition("@")
    offline = offline_reason(hub=True)
    try:
        path = huggingface_hub.hf_hub_download(
            repo_id, filename, revision=revision or None, local_files_only=offline is not None
        )
    except LocalEntryNotFoundError as e:
        if offline:
            raise OfflineError(
                f"{offline} is set and {filename} of {HF_PREFIX}{repo} is not in the Hugging "
                f"Face cache; download it once online or unset {offline}"
            ) from e
        raise DownloadError(
            f"could not reach the Hugging Face Hub for {filename} of {HF_PREFIX}{repo}, and it "
            f"is not in the local cache ({e}). Check the network, proxy or HF_ENDPOINT; set "
            "HF_HUB_OFFLINE=1 to use cached files only"
        ) from e
    return Path(path)


def _from_hub(repo: str, sha256: str | None = None) -> Checkpoint:
    for filename in WEIGHT_FILES[:2]:
        try:
            path = _hub_file(repo, filename)
        except ImportError:
            raise
        except Exception as e:
            from huggingface_hub.errors import EntryNotFoundError

            if isinstance(e, EntryNotFoundError):
                continue  # the repository lacks this file: try the next name
            raise
        _check_sha256(path, sha256)
        cfg, dims = None, None
        try:
            config = read_saved_config(HF_PREFIX + repo)
            cfg, dims = config.get("pretrained_cfg"), config["kwargs"].get("spatial_dims")
        except Exception as e:  # a hub repo need not carry a hybridnets config.json
            logger.debug("no usable config.json in %s: %s", repo, e)
        return Checkpoint(read_state_dict(path), HF_PREFIX + repo, cfg, dims)
    raise FileNotFoundError(f"hf-hub:{repo} has neither {WEIGHT_FILES[0]} nor {WEIGHT_FILES[1]}")


def timm_hub_url(name: str) -> str:
    """Download address of timm hub weights ``<model>.<tag>`` (honours ``HF_ENDPOINT``)."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    return f"{endpoint}/timm/{name}/resolve/main/model.safetensors"


def _from_timm(
    source: str, model: nn.Module, filter_fn: FilterFn | None, sha256: str | None = None
) -> Checkpoint:
    if filter_fn is None:
        raise ValueError(
            f"{source!r}: {architecture_of(model) or type(model).__name__} declares no conversion "
            "of timm checkpoints (models built by hybridnets.create carry their family's "
            "checkpoint_filter_fn; else pass filter_fn=)"
        )
    names = source[len(TIMM_SOURCE_PREFIX) :].split("+")
    digests = sha256.split("+") if sha256 else [None] * len(names)
    if len(digests) != len(names):
        raise ValueError(
            f"{source!r} has {len(names)} parent checkpoint(s) ({', '.join(names)}) but sha256 "
            f"gives {len(digests)} digest(s): pass one per parent, joined with '+' in that order"
        )
    parents = {
        name: read_state_dict(
            download(timm_hub_url(name), digest, check=checkpoint_problem, hub=True)
        )
        for name, digest in zip(names, digests)
    }
    return Checkpoint(filter_fn(parents, model), source, None, 2)
