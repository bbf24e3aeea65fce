"""Image–text alignment recipe (``python -m hybridnets.align``): LiT / CLIP / LoRA on
image–caption pairs with any image tower, scored by retrieval and zero-shot accuracy.

from hybridnets.align import AlignConfig, align
result = align(AlignConfig(model="convvit_n", data="/data/medpix2", input_size=64))
"""

from hybridnets.align.config import AlignConfig
from hybridnets.align.evaluate import embed_images, embed_texts, evaluate_pairs, score_aligned
from hybridnets.align.prompts import TASKS, ZeroShotTask
from hybridnets.align.recipe import align

__all__ = [
    "TASKS",
    "AlignConfig",
    "ZeroShotTask",
    "align",
    "embed_images",
    "embed_texts",
    "evaluate_pairs",
    "score_aligned",
]
