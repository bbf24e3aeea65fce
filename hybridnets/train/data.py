"""The supervised recipe's data: the train / val / test splits of a MedMNIST ``.npz`` file or of
a table of image paths (with the fitted clinical preprocessor when columns are fused).

    train_ds, val_ds, test_ds, pre = load_splits(config)   # pre: None without tabular columns
"""

from __future__ import annotations

from hybridnets.data import MedMNIST
from hybridnets.data.arrays import ImageArray
from hybridnets.data.split_table import table_splits
from hybridnets.data.tabular import TabularPreprocessor
from hybridnets.train.config import TABLE_SIZE, TrainConfig

__all__ = ["load_splits"]


def load_splits(
    config: TrainConfig,
) -> tuple[ImageArray, ImageArray, ImageArray, TabularPreprocessor | None]:
    """Train, val and test splits of ``config.data`` and the clinical preprocessor (or None)."""
    if not config.is_table:
        train, val, test = (MedMNIST(config.data, s) for s in ("train", "val", "test"))
        return train, val, test, None
    return table_splits(
        config.data,
        config.image_col,
        config.label_col,
        config.tabular_columns,
        group_col=config.group_col,
        split_col=config.split_col,
        size=config.input_size or TABLE_SIZE,
        in_chans=config.in_chans,
        seed=config.seed,
        allow_outside_paths=config.allow_outside_paths,
    )
