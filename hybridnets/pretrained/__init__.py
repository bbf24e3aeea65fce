"""Pretrained weights: tags, downloads, safe loading and adaptation, for any model.

Tags and checkpoint conversions are declared beside each model family
(``hybridnets/models/<family>.py``); this package only resolves, fetches, adapts and loads.

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
from hybridnets.pretrained.fetch import (
    ChecksumError,
    DownloadError,
    OfflineError,
    cache_dir,
    download,
)
from hybridnets.pretrained.filecheck import CheckpointFileError
from hybridnets.pretrained.io import UnsafeCheckpointError, read_state_dict, write_state_dict
from hybridnets.pretrained.load import LoadReport, PretrainedLoadError, load_pretrained
from hybridnets.pretrained.registry import (
    PretrainedCfg,
    get_pretrained_cfg,
    list_pretrained,
    register_pretrained,
    register_pretrained_cfgs,
)
from hybridnets.pretrained.save import save_pretrained
from hybridnets.pretrained.sources import read_saved_config, recorded_architecture

__all__ = [
    "CheckpointFileError",
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
    "download",
    "get_pretrained_cfg",
    "inflate_conv",
    "inflate_rel_pos_table",
    "list_pretrained",
    "load_pretrained",
    "read_saved_config",
    "read_state_dict",
    "recorded_architecture",
    "register_pretrained",
    "register_pretrained_cfgs",
    "resample_rel_pos_table",
    "save_pretrained",
    "write_state_dict",
]
