"""Medical imaging data: the MedMNIST ``.npz`` loader, tables of image paths + clinical columns
with grouped splits, image–text pairs, unlabelled images, one in-memory dataset base under all
of them (:class:`InMemoryImages`: one standardisation rule), and batched 2D/3D augmentation.

    from hybridnets.data import MedMNIST
    train = MedMNIST("pneumoniamnist.npz", "train")
"""

from hybridnets.data.arrays import ImageArray
from hybridnets.data.augment import (
    RandomFlipAffine,
    RandomIntensity,
    TrainAugment,
    random_rotation,
)
from hybridnets.data.in_memory import InMemoryImages
from hybridnets.data.medmnist import MEDMNIST_NUM_CLASSES, SPLITS, MedMNIST, MedMNISTFormatError
from hybridnets.data.pairs import ImageTextPairs
from hybridnets.data.split_table import TableSplit, table_splits
from hybridnets.data.table import ImageTable, TableFormatError, grouped_split, load_table
from hybridnets.data.tabular import TabularPreprocessor
from hybridnets.data.unlabelled import UnlabelledImages

__all__ = [
    "MEDMNIST_NUM_CLASSES",
    "SPLITS",
    "ImageArray",
    "ImageTable",
    "ImageTextPairs",
    "InMemoryImages",
    "MedMNIST",
    "MedMNISTFormatError",
    "RandomFlipAffine",
    "RandomIntensity",
    "TableFormatError",
    "TableSplit",
    "TabularPreprocessor",
    "TrainAugment",
    "UnlabelledImages",
    "grouped_split",
    "load_table",
    "random_rotation",
    "table_splits",
]
