"""Medical imaging data: the MedMNIST ``.npz`` loader and batched 2D/3D augmentation.

from hybridnets.data import MedMNIST
train = MedMNIST("pneumoniamnist.npz", "train")
"""

from hybridnets.data.augment import RandomFlipAffine, random_rotation
from hybridnets.data.medmnist import MEDMNIST_NUM_CLASSES, SPLITS, MedMNIST, MedMNISTFormatError

__all__ = [
    "MEDMNIST_NUM_CLASSES",
    "SPLITS",
    "MedMNIST",
    "MedMNISTFormatError",
    "RandomFlipAffine",
    "random_rotation",
]
