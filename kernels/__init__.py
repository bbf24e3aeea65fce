"""Triton attention kernels, installed as ``hybridnets.kernels``."""
