"""The Triton backend: refusal reasons, dispatch fallback, custom ops, FLOP counting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import hybridnets.ops as ops
from hybridnets.ops import BackendUnavailableError, explain, select_backend
from hybridnets.ops import triton_backend as tb
from hybridnets.ops.reference import attention_reference, window_attention_reference

CUDA = torch.cuda.is_available()


@pytest.fixture
def interpreter(monkeypatch: pytest.MonkeyPatch) -> Iterator[torch.device]:
    """Device for running the kernels: CUDA, else CPU under Triton's interpreter."""
    pytest.importorskip("triton")
    if CUDA:
        yield torch.device("cuda")
        return
    from hybridnets.kernels.interpret import cpu_interpreter

    with cpu_interpreter():
        yield torch.device("cpu")


@pytest.fixture
def no_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)


def _window_inputs(device="cpu", dtype=torch.float32, bw=4, h=2, n=9, d=16, nw=2):
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(bw, h, n, d, generator=gen).to(device, dtype) for _ in range(3))
    table = torch.randn(h, 25, generator=gen).to(device)
    rel_index = torch.randint(0, 25, (n, n), generator=gen).to(device)
    region_ids = torch.randint(0, 3, (nw, n), generator=gen).to(device)
    return q, dict(k=k, v=v, rpb_table=table, rel_index=rel_index, region_ids=region_ids)


def _attention_inputs(device="cpu", dtype=torch.float32, b=2, h=2, lq=6, lk=5, d=16):
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(b, h, lq, d, generator=gen).to(device, dtype)
    k, v = (torch.randn(b, h, lk, d, generator=gen).to(device, dtype) for _ in range(2))
    bias = torch.randn(h, lq, lk, generator=gen).to(device)
    key_padding_mask = torch.zeros(b, lk, dtype=torch.bool, device=device)
    key_padding_mask[-1, 3:] = True
    return q, dict(k=k, v=v, bias=bias, key_padding_mask=key_padding_mask)


def test_cpu_without_interpreter_refuses_and_auto_falls_back(no_interpreter):
    q, inputs = _window_inputs()
    reasons = tb.TritonBackend().supports_window_attention(q, **inputs)
    assert any("TRITON_INTERPRET" in r for r in reasons), reasons
    assert select_backend("window_attention", q, **inputs).name == "sdpa"
    q, inputs = _attention_inputs()
    assert explain("attention", q, **inputs)["triton"]
    assert select_backend("attention", q, **inputs).name == "sdpa"


def test_forcing_triton_raises_with_reasons(no_interpreter):
    q, inputs = _window_inputs(dtype=torch.float64)
    with pytest.raises(BackendUnavailableError, match=r"triton:.*TRITON_INTERPRET.*float64"):
        ops.window_attention(q, backend="triton", **inputs)
    q, inputs = _attention_inputs()
    with pytest.raises(BackendUnavailableError, match="triton:"), ops.use_backend("triton"):
        ops.attention(q, **inputs)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda q, kw: (q[..., :0], kw), "head_dim 0"),
        (lambda q, kw: (torch.randn(*q.shape[:3], 160), kw), "head_dim 160"),
        (lambda q, kw: (q.double(), kw), "dtype torch.float64"),
        (lambda q, kw: (q, {**kw, "k": kw["k"][:, :, :5]}), "shapes differ"),
        (lambda q, kw: (q, {**kw, "rpb_table": kw["rpb_table"][:1]}), "rpb_table has shape"),
        (lambda q, kw: (q, {**kw, "rel_index": kw["rel_index"][:4]}), "rel_index has shape"),
        (lambda q, kw: (q, {**kw, "rel_index": kw["rel_index"].float()}), "not an integer"),
        (lambda q, kw: (q, {**kw, "region_ids": kw["region_ids"][:, :3]}), "region_ids has"),
        (
            lambda q, kw: (q, {**kw, "region_ids": kw["region_ids"].repeat(2, 1)[:3]}),
            "not a multiple of nW",
        ),
        (lambda q, kw: (q[0], kw), "q has 3 dims"),
    ],
)
def test_window_reasons(change, expected, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    q, inputs = change(*_window_inputs())
    reasons = tb.TritonBackend().supports_window_attention(q, **inputs)
    assert any(expected in r for r in reasons), reasons


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda q, kw: (q, {**kw, "bias": kw["bias"][:, :2]}), "does not broadcast"),
        (lambda q, kw: (q, {**kw, "key_padding_mask": kw["key_padding_mask"].int()}), "not bool"),
        (lambda q, kw: (q, {**kw, "key_padding_mask": kw["key_padding_mask"][:1]}), "expected"),
        (lambda q, kw: (q, {**kw, "v": kw["v"][:, :, :2]}), "do not match"),
        (lambda q, kw: (q.half(), kw), "dtypes differ"),
    ],
)
def test_attention_reasons(change, expected, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    q, inputs = change(*_attention_inputs())
    reasons = tb.TritonBackend().supports_attention(q, **inputs)
    assert any(expected in r for r in reasons), reasons


def test_missing_triton_is_a_reason(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setattr(tb, "_triton_import_error", lambda: "triton is not importable (test)")
    q, inputs = _attention_inputs()
    assert "triton is not importable (test)" in tb.TritonBackend().supports_attention(q, **inputs)
    assert select_backend("attention", q, **inputs).name == "sdpa"


def test_valid_inputs_have_no_reasons(monkeypatch):
    pytest.importorskip("triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    q, inputs = _window_inputs()
    assert tb.TritonBackend().supports_window_attention(q, **inputs) == []
    q, inputs = _attention_inputs()
    assert tb.TritonBackend().supports_attention(q, **inputs) == []


def test_auto_dispatch_runs_triton(interpreter):
    q, inputs = _window_inputs(interpreter)
    assert select_backend("window_attention", q, **inputs).name == "triton"
    out = ops.window_attention(q, **inputs)
    ref = window_attention_reference(q, **inputs)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)
    q, inputs = _attention_inputs(interpreter)
    out = ops.attention(q, backend="triton", **inputs)
    torch.testing.assert_close(out, attention_reference(q, **inputs), atol=1e-4, rtol=1e-4)


def test_opcheck_custom_ops(interpreter):
    q, inputs = _window_inputs(interpreter, bw=2, h=1, n=4, nw=1)
    table = inputs["rpb_table"][:1].requires_grad_()
    args = (q.requires_grad_(), inputs["k"], inputs["v"], table, inputs["rel_index"] % 4)
    torch.library.opcheck(
        torch.ops.hybridnets.window_attention.default, (*args, inputs["region_ids"], 0.25)
    )
    q, inputs = _attention_inputs(interpreter, b=1, h=1, lq=3, lk=4)
    bias = inputs["bias"][:1, :3, :4].clone().requires_grad_()
    args = (q.requires_grad_(), inputs["k"], inputs["v"], bias, inputs["key_padding_mask"], 0.25)
    torch.library.opcheck(torch.ops.hybridnets.attention.default, args)


def test_torch_compile_traces_the_ops(interpreter):
    q, inputs = _attention_inputs(interpreter)
    q.requires_grad_()

    @torch.compile(backend="aot_eager", fullgraph=True)
    def f(q, k, v, bias, key_padding_mask):
        return ops.attention(q, k, v, bias, key_padding_mask, backend="triton").square().sum()

    f(q, **inputs).backward()
    ref_q = q.detach().clone().requires_grad_()
    attention_reference(ref_q, **inputs).square().sum().backward()
    torch.testing.assert_close(q.grad, ref_q.grad, atol=1e-4, rtol=1e-4)


def test_flop_counter_counts_forward_and_backward(interpreter):
    q, inputs = _window_inputs(interpreter)
    q.requires_grad_()
    bw, h, n, d = q.shape
    forward = 4 * bw * h * n * n * d
    with FlopCounterMode(display=False) as counter:
        out = ops.window_attention(q, backend="triton", **inputs)
    assert counter.get_total_flops() == forward
    with FlopCounterMode(display=False) as counter:
        out.sum().backward()
    assert counter.get_total_flops() == forward * 5 // 2
