"""BatchNorm statistics re-estimated on clean inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hybridnets.pretrain.batchnorm import recalibrate_batchnorm


def test_running_stats_become_the_average_over_the_batches() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5))
    model[1].running_mean.fill_(7.0)  # stale statistics, e.g. from masked inputs
    batches = [torch.randn(8, 1, 10, 10) * 3 + 1 for _ in range(4)]
    assert recalibrate_batchnorm(model, batches) == 1
    with torch.no_grad():
        feats = torch.cat([model[0](x) for x in batches])  # (32, 4, 8, 8)
    torch.testing.assert_close(model[1].running_mean, feats.mean((0, 2, 3)), rtol=1e-4, atol=1e-5)
    assert not model.training and model[1].momentum == 0.1  # left in eval, momentum restored


def test_no_batches_leaves_the_statistics_alone() -> None:
    model = nn.Sequential(nn.BatchNorm1d(3))
    model[0].running_mean.fill_(2.0)
    with pytest.raises(ValueError, match="got no batches"):
        recalibrate_batchnorm(model, [])
    assert model[0].running_mean.eq(2.0).all()
    assert recalibrate_batchnorm(nn.Linear(2, 2), [torch.randn(2, 2)]) == 0
