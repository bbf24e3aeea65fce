"""Medical imaging data: the MedMNIST ``.npz`` loader, tables of image paths + clinical columns
with grouped splits, and batched 2D/3D augmentation.

from hybridnets.data import MedMNIST
train = MedMNIST("pneumoniamnist.npz", "train")
"""

from hybridnets.data.augment import RandomFlipAffine, RandomIntensity, random_rotation
from hybridnets.data.medmnist import MEDMNIST_NUM_CLASSES, SPLITS, MedMNIST, MedMNISTFormatError
from hybridnets.data.table import ImageTable, TableFormatError, grouped_split, load_table
from hybridnets.data.table_splits import TableSplit, table_splits

__all__ = [
    "MEDMNIST_NUM_CLASSES",
    "SPLITS",
    "ImageTable",
    "MedMNIST",
    "MedMNISTFormatError",
    "RandomFlipAffine",
    "RandomIntensity",
    "TableFormatError",
    "TableSplit",
    "grouped_split",
    "load_table",
    "random_rotation",
    "table_splits",
]
