"""Pretrained weights: tags, downloads, safe loading, adaptation and timm transplants.

model = hybridnets.create("convvit_t", pretrained="in1k_timm", in_chans=1, spatial_dims=3)
report = hybridnets.pretrained.load_pretrained(model, "weights.safetensors", strict=False)
hybridnets.save_pretrained(model, "runs/best")
model = hybridnets.create(pretrained="runs/best")
"""

from hybridnets.pretrained.adapt import (
    adapt_input_channels,
    adapt_rel_pos_table,
    adapt_state_dict,
    inflate_conv,
    inflate_rel_pos_table,
    resample_rel_pos_table,
)
from hybridnets.pretrained.download import (
    ChecksumError,
    DownloadError,
    OfflineError,
    cache_dir,
    download,
)
from hybridnets.pretrained.io import UnsafeCheckpointError, read_state_dict, write_state_dict
from hybridnets.pretrained.load import LoadReport, PretrainedLoadError, load_pretrained
from hybridnets.pretrained.registry import (
    PretrainedCfg,
    get_pretrained_cfg,
    list_pretrained,
    register_pretrained,
)
from hybridnets.pretrained.save import save_pretrained
from hybridnets.pretrained.sources import read_saved_config
from hybridnets.pretrained.transplant import convvit_from_timm

__all__ = [
    "ChecksumError",
    "DownloadError",
    "LoadReport",
    "OfflineError",
    "PretrainedCfg",
    "PretrainedLoadError",
    "UnsafeCheckpointError",
    "adapt_input_channels",
    "adapt_rel_pos_table",
    "adapt_state_dict",
    "cache_dir",
    "convvit_from_timm",
    "download",
    "get_pretrained_cfg",
    "inflate_conv",
    "inflate_rel_pos_table",
    "list_pretrained",
    "load_pretrained",
    "read_saved_config",
    "read_state_dict",
    "register_pretrained",
    "resample_rel_pos_table",
    "save_pretrained",
    "write_state_dict",
]
