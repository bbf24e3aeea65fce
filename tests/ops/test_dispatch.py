"""Dispatch contract: reasons, forcing, context manager, env var, and SDPA == reference."""

from __future__ import annotations

import asyncio
import threading

import pytest
import torch

from hybridnets import ops
from hybridnets.layers import relative_position_index, shift_region_ids
from hybridnets.ops import AttentionRequest, ReasonCode, attention_reference


@pytest.fixture(autouse=True)
def _no_forced_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the shell exports, these tests start with ``auto``."""
    monkeypatch.delenv("HYBRIDNETS_ATTN_BACKEND", raising=False)


def _window_inputs(bw=4, h=2, window=(3, 3), d=8, shifted=True, dtype=torch.float64):
    n = 1
    for w in window:
        n *= w
    q, k, v = (torch.randn(bw, h, n, d, dtype=dtype, requires_grad=True) for _ in range(3))
    t = 1
    for w in window:
        t *= 2 * w - 1
    table = torch.randn(h, t, dtype=dtype, requires_grad=True)
    index = relative_position_index(window, window)
    grid = tuple(2 * w for w in window)  # 2 windows per dim
    region = shift_region_ids(
        grid, window, (1,) * len(window) if shifted else (0,) * len(window), grid
    )
    batch = bw // region.shape[0]
    q, k, v = (t.detach()[: batch * region.shape[0]].requires_grad_() for t in (q, k, v))
    return q, k, v, table, index, region


@pytest.mark.parametrize("window", [(3, 3), (2, 2, 2)])
@pytest.mark.parametrize("shifted", [False, True])
def test_sdpa_matches_reference_window(window, shifted):
    q, k, v, table, index, region = _window_inputs(
        bw=2 ** len(window) * 2, window=window, shifted=shifted
    )
    outs, grads = [], []
    for backend in ("reference", "sdpa"):
        out = ops.window_attention(q, k, v, table, index, region, backend=backend)
        g = torch.randn_like(out, generator=torch.Generator().manual_seed(1))
        out.backward(g)
        outs.append(out.detach())
        grads.append([t.grad.clone() for t in (q, k, v, table)])
        for t in (q, k, v, table):
            t.grad = None
    torch.testing.assert_close(outs[0], outs[1])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_sdpa_matches_reference_cross_attention_with_padding():
    b, h, lq, lk, d = 2, 2, 5, 7, 8
    q = torch.randn(b, h, lq, d, dtype=torch.float64)
    k, v = torch.randn(2, b, h, lk, d, dtype=torch.float64).unbind(0)
    bias = torch.randn(h, lq, lk, dtype=torch.float64, requires_grad=True)
    pad = torch.zeros(b, lk, dtype=torch.bool)
    pad[1, 4:] = True
    ref = ops.attention(q, k, v, bias, pad, backend="reference")
    sdpa = ops.attention(q, k, v, bias, pad, backend="sdpa")
    torch.testing.assert_close(ref, sdpa)
    (g_ref,) = torch.autograd.grad(ref.sum(), bias)
    (g_sdpa,) = torch.autograd.grad(sdpa.sum(), bias)
    torch.testing.assert_close(g_ref, g_sdpa)
    # padded keys have no influence
    k2 = k.clone()
    k2[1, :, 4:] += 5.0
    torch.testing.assert_close(
        ops.attention(q, k2, v, bias, pad), ops.attention(q, k, v, bias, pad)
    )


@pytest.mark.parametrize("masked_by", ["key-padding", "bias"])
@pytest.mark.parametrize("backend", ["reference", "sdpa", "triton"])
def test_query_with_no_key_to_attend_gets_zeros(backend, masked_by, request):
    """Sequence 1 has every key padded (or every query row 1 of head 0 has -inf bias on every
    key): its output is zeros and no gradient flows through it, with no NaN anywhere; the rest
    equals attention without the masked part. Triton runs interpreted on CPU."""
    if backend == "triton":
        request.getfixturevalue("device")  # Triton's interpreter on CPU, CUDA where there is one
    b, h, lq, lk, d = 2, 2, 3, 5, 16
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(b, h, lq, d, generator=gen)
    k, v = torch.randn(2, b, h, lk, d, generator=gen).unbind(0)
    bias = torch.randn(h, lq, lk, generator=gen)
    pad = torch.zeros(b, lk, dtype=torch.bool)
    if masked_by == "key-padding":
        pad[1] = True
        dead = (slice(1, 2), slice(None), slice(None))  # (B, H, Lq) entries with no key
    else:
        bias[0, 1] = float("-inf")
        dead = (slice(None), slice(0, 1), slice(1, 2))
    inputs = [t.clone().requires_grad_() for t in (q, k, v, bias)]
    out = ops.attention(*inputs, pad, backend=backend)
    weight = torch.linspace(-1, 1, out.numel()).view(out.shape)
    (out * weight).sum().backward()
    assert torch.isfinite(out).all() and all(torch.isfinite(t.grad).all() for t in inputs)
    assert torch.equal(out[dead], torch.zeros_like(out[dead]))
    assert torch.equal(inputs[0].grad[dead], torch.zeros_like(out[dead]))
    # everything else: the reference in float64 with the dead rows' gradient cut off
    ref_inputs = [t.detach().double().requires_grad_() for t in (q, k, v, bias)]
    ref_bias = ref_inputs[3].masked_fill(bias.isinf(), -1e300)  # finite: softmax is defined
    ref = attention_reference(*ref_inputs[:3], ref_bias, pad)
    live = torch.ones_like(ref, dtype=torch.bool)
    live[dead] = False
    ref = ref * live  # dead rows: zeros, no gradient
    (ref * weight.double()).sum().backward()
    torch.testing.assert_close(out, ref.float(), atol=1e-5, rtol=1e-5)
    for got, want in zip(inputs, ref_inputs):
        torch.testing.assert_close(got.grad, want.grad.float(), atol=1e-5, rtol=1e-5)


def test_region_mask_blocks_across_regions():
    q, k, v, table, index, region = _window_inputs(bw=4, window=(3, 3), shifted=True)
    out = ops.window_attention(q, k, v, table, index, region, backend="reference")
    # Perturb one key in the last window; outputs of queries in other regions must not change.
    w = 3  # last window of image 0 mixes 4 regions when shifted
    ids = region[w]
    j = 0
    k2 = k.detach().clone()
    v2 = v.detach().clone()
    k2[w, :, j] += 3.0
    v2[w, :, j] += 3.0
    out2 = ops.window_attention(q, k2, v2, table, index, region, backend="reference")
    other = ids != ids[j]
    assert other.any() and (~other).sum() >= 1
    torch.testing.assert_close(out[w][:, other], out2[w][:, other])
    assert not torch.allclose(out[w][:, ~other], out2[w][:, ~other])


def test_unknown_backend_name_lists_choices():
    with pytest.raises(ValueError, match="auto, triton, sdpa, reference"), ops.use_backend("flash"):
        pass


def test_forced_backend_that_refuses_raises_with_reasons():
    q = torch.randint(0, 3, (1, 1, 4, 8), dtype=torch.int32)
    reasons = ops.explain(AttentionRequest(q, q, q))
    assert [r.code for r in reasons["sdpa"]] == [ReasonCode.DTYPE]
    assert "dtype torch.int32" in str(reasons["sdpa"][0])
    assert reasons["reference"] == []
    with pytest.raises(ops.BackendUnavailableError, match=r"sdpa: dtype torch\.int32"):
        ops.attention(q, q, q, backend="sdpa")


def test_explain_by_op_name_builds_the_request():
    q = torch.randn(1, 1, 4, 8)
    by_name = ops.explain("attention", q, k=q, v=q, key_padding_mask=None)
    assert by_name == ops.explain(AttentionRequest(q, q, q))


def test_auto_picks_first_backend_that_can_run():
    q = torch.randn(1, 1, 4, 8)
    request = AttentionRequest(q, q, q)
    chosen = ops.select_backend(request)
    reasons = ops.explain(request)
    first_ok = next(name for name in ("triton", "sdpa", "reference") if not reasons[name])
    assert chosen.name == first_ok


def test_context_manager_and_env_var(monkeypatch):
    assert ops.requested_backend() == "auto"
    with ops.use_backend("reference"):
        assert ops.requested_backend() == "reference"
        with ops.use_backend("sdpa"):
            assert ops.requested_backend() == "sdpa"
        assert ops.requested_backend() == "reference"
        assert ops.requested_backend("sdpa") == "sdpa"  # per-call wins
    monkeypatch.setenv("HYBRIDNETS_ATTN_BACKEND", "reference")
    assert ops.requested_backend() == "reference"
    monkeypatch.setenv("HYBRIDNETS_ATTN_BACKEND", "bogus")
    with pytest.raises(ValueError, match="bogus"):
        ops.requested_backend()


def test_forcing_in_one_thread_does_not_leak_to_another():
    forced, seen = threading.Event(), {}

    def other() -> None:
        forced.wait(timeout=10)
        seen["other"] = ops.requested_backend()

    thread = threading.Thread(target=other)
    thread.start()
    with ops.use_backend("reference"):
        forced.set()
        thread.join(timeout=10)
        seen["this"] = ops.requested_backend()
    assert seen == {"other": "auto", "this": "reference"}


def test_forcing_in_one_task_does_not_leak_to_another():
    async def forced_task(started: asyncio.Event, release: asyncio.Event) -> str:
        with ops.use_backend("sdpa"):
            started.set()
            await release.wait()
            return ops.requested_backend()

    async def plain_task(started: asyncio.Event, release: asyncio.Event) -> str:
        await started.wait()
        name = ops.requested_backend()
        release.set()
        return name

    async def main() -> list[str]:
        started, release = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(forced_task(started, release), plain_task(started, release))

    assert asyncio.run(main()) == ["sdpa", "auto"]
