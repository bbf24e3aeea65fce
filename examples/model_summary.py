"""Summary of one model in 2D and 3D: parameters, GMACs, output shape and per-stage features.

python examples/model_summary.py                       # convvit_s at 224² and 64³
python examples/model_summary.py convvit_n --size-2d 28 --size-3d 28
"""

from __future__ import annotations

import argparse

import torch

import hybridnets
from hybridnets.flops import count_macs, count_params


def summarise(name: str, spatial_dims: int, size: int) -> None:
    in_chans = 3 if spatial_dims == 2 else 1
    model = hybridnets.create(name, spatial_dims=spatial_dims, in_chans=in_chans).eval()
    x = torch.randn(1, in_chans, *(size,) * spatial_dims)
    with torch.no_grad():
        logits = model(x)
        maps = model.forward_intermediates(x, intermediates_only=True)
    print(f"{name} {spatial_dims}D, input {tuple(x.shape)}, {in_chans} channel(s)")
    print(f"  params {count_params(model) / 1e6:.2f}M, {count_macs(model, x) / 1e9:.2f} GMACs")
    print(f"  logits {tuple(logits.shape)}; min input {model.min_input_size} per dim")
    for info, fmap in zip(model.feature_info, maps):
        print(f"  {info['module']:<9} stride {info['reduction']:>2}  {tuple(fmap.shape)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("name", nargs="?", default="convvit_s")
    p.add_argument("--size-2d", type=int, default=224)
    p.add_argument("--size-3d", type=int, default=64)
    args = p.parse_args()
    summarise(args.name, 2, args.size_2d)
    summarise(args.name, 3, args.size_3d)


if __name__ == "__main__":
    main()
