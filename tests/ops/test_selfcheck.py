"""The first-use parity check of the Triton kernels.

Without CUDA the kernels run under Triton's interpreter and ``selfcheck._on_gpu`` is patched to
say yes, which is what a CUDA device answers; with CUDA the check runs for real.
"""

from __future__ import annotations

import logging

import pytest
import torch

from hybridnets import ops
from hybridnets.ops import AttentionRequest, ReasonCode, selfcheck
from hybridnets.ops.triton_backend import TritonBackend


@pytest.fixture
def checked(device: torch.device, monkeypatch: pytest.MonkeyPatch) -> list[torch.device]:
    """A fresh record of results, the GPU test faked on CPU; the devices each check ran on."""
    monkeypatch.delenv(selfcheck.ENV_VAR, raising=False)
    monkeypatch.delenv("HYBRIDNETS_ATTN_BACKEND", raising=False)
    if device.type == "cpu":
        monkeypatch.setattr(selfcheck, "_on_gpu", lambda device: True)
    checked: list[torch.device] = []
    run_check = selfcheck._run_check

    def counting(device: torch.device, dtype: torch.dtype, head_dim: int) -> str | None:
        checked.append(device)
        return run_check(device, dtype, head_dim)

    monkeypatch.setattr(selfcheck, "_results", {})
    monkeypatch.setattr(selfcheck, "_run_check", counting)
    return checked


def _request(device: torch.device, head_dim: int = 16) -> AttentionRequest:
    q = torch.randn(1, 2, 5, head_dim, device=device)
    return AttentionRequest(q, q, q)


def _wrong(kernel):
    """``kernel`` with its output off by 10%: what a miscompiled kernel might return."""
    return lambda *args, **kwargs: kernel(*args, **kwargs) * 1.1


def test_pass_runs_once_per_dtype_and_head_dim_class(checked, device, caplog):
    backend = TritonBackend()
    with caplog.at_level(logging.WARNING, logger=selfcheck.__name__):
        assert backend.not_supported_reasons(_request(device, 16)) == []
        assert (
            backend.not_supported_reasons(_request(device, 12)) == []
        )  # same class (16): no rerun
    assert len(checked) == 1
    assert list(selfcheck._results.values()) == [None]
    assert not caplog.records
    assert ops.select_backend(_request(device, 16)).name == "triton"


def test_failure_falls_back_with_one_warning(checked, device, monkeypatch, caplog):
    monkeypatch.setattr(selfcheck, "attention_triton", _wrong(selfcheck.attention_triton))
    with caplog.at_level(logging.WARNING, logger=selfcheck.__name__):
        reasons = TritonBackend().not_supported_reasons(_request(device))
        assert [r.code for r in reasons] == [ReasonCode.SELF_CHECK_FAILED]
        assert "attention out" in str(reasons[0])
        assert ops.select_backend(_request(device)).name == "sdpa"  # auto falls back
        with pytest.raises(ops.BackendUnavailableError, match="self-check"):
            ops.select_backend(_request(device), "triton")
    assert len(checked) == 1
    (record,) = caplog.records
    assert "Triton self-check failed" in record.getMessage()
    assert "\n" not in record.getMessage()


def test_kernel_error_fails_the_check(checked, device, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of resources")

    monkeypatch.setattr(selfcheck, "window_attention_triton", broken)
    reasons = TritonBackend().not_supported_reasons(_request(device))
    assert [r.code for r in reasons] == [ReasonCode.SELF_CHECK_FAILED]
    assert "out of resources" in str(reasons[0])


def test_env_var_skips_the_check(checked, device, monkeypatch):
    monkeypatch.setenv(selfcheck.ENV_VAR, "0")
    monkeypatch.setattr(selfcheck, "attention_triton", _wrong(selfcheck.attention_triton))
    assert TritonBackend().not_supported_reasons(_request(device)) == []
    assert checked == []


def test_no_check_off_gpu(monkeypatch):
    monkeypatch.setattr(selfcheck, "_results", {})
    monkeypatch.setattr(selfcheck, "_run_check", lambda *args: pytest.fail("check ran on CPU"))
    assert selfcheck.self_check_failure(torch.device("cpu"), torch.float32, 16) is None


@pytest.mark.parametrize(("head_dim", "cls"), [(1, 16), (16, 16), (17, 32), (64, 64), (96, 128)])
def test_head_dim_class(head_dim, cls):
    assert selfcheck.head_dim_class(head_dim) == cls


def test_check_runs_while_tracing_for_torch_compile(checked, device):
    q = torch.randn(1, 2, 5, 16, device=device, requires_grad=True)

    @torch.compile(backend="aot_eager", fullgraph=True)
    def f(q):
        return ops.attention(q, q, q).sum()

    f(q).backward()
    assert len(checked) == 1 and list(selfcheck._results.values()) == [None]
    assert q.grad is not None
