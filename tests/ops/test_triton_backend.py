"""The Triton backend: refusal reasons, dispatch fallback, custom ops, FLOP counting."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import hybridnets.ops as ops
from hybridnets.ops import (
    AttentionRequest,
    BackendUnavailableError,
    ReasonCode,
    WindowAttentionRequest,
    explain,
    select_backend,
)
from hybridnets.ops import triton_backend as tb
from hybridnets.ops.attention_flops import attention_flops
from hybridnets.ops.reference import attention_reference, window_attention_reference


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


def _window_request(**kwargs) -> WindowAttentionRequest:
    q, inputs = _window_inputs(**kwargs)
    return WindowAttentionRequest(q, **inputs)


def _attention_request(**kwargs) -> AttentionRequest:
    q, inputs = _attention_inputs(**kwargs)
    return AttentionRequest(q, **inputs)


def _codes(reasons):
    return {r.code for r in reasons}


def test_cpu_without_interpreter_refuses_and_auto_falls_back(no_interpreter):
    request = _window_request()
    reasons = tb.TritonBackend().not_supported_reasons(request)
    assert _codes(reasons) == {ReasonCode.DEVICE}, reasons
    message = str(reasons[0])
    assert "TRITON_INTERPRET=1" in message and "set it in the environment before Python" in message
    assert "too late" in message and "cpu_interpreter()" in message
    assert select_backend(request).name == "sdpa"
    request = _attention_request()
    assert explain(request)["triton"]
    assert select_backend(request).name == "sdpa"


def test_forcing_triton_raises_with_reasons(no_interpreter):
    q, inputs = _window_inputs(dtype=torch.float64)
    with pytest.raises(BackendUnavailableError, match=r"triton:.*TRITON_INTERPRET.*float64"):
        ops.window_attention(q, backend="triton", **inputs)
    q, inputs = _attention_inputs()
    with pytest.raises(BackendUnavailableError, match="triton:"), ops.use_backend("triton"):
        ops.attention(q, **inputs)


@pytest.mark.parametrize(
    ("change", "code", "text"),
    [
        (lambda q, kw: (q[..., :0], kw), ReasonCode.HEAD_DIM, "head_dim 0"),
        (lambda q, kw: (torch.randn(*q.shape[:3], 160), kw), ReasonCode.HEAD_DIM, "head_dim 160"),
        (lambda q, kw: (q.double(), kw), ReasonCode.DTYPE, "dtype torch.float64"),
        (lambda q, kw: (q, {**kw, "k": kw["k"][:, :, :5]}), ReasonCode.SHAPE_MISMATCH, "differ"),
        (
            lambda q, kw: (q, {**kw, "rpb_table": kw["rpb_table"][:1]}),
            ReasonCode.RPB_TABLE,
            "rpb_table has shape",
        ),
        (
            lambda q, kw: (q, {**kw, "rel_index": kw["rel_index"][:4]}),
            ReasonCode.REL_INDEX,
            "rel_index has shape",
        ),
        (
            lambda q, kw: (q, {**kw, "rel_index": kw["rel_index"].float()}),
            ReasonCode.REL_INDEX,
            "not an integer",
        ),
        (
            lambda q, kw: (q, {**kw, "region_ids": kw["region_ids"][:, :3]}),
            ReasonCode.REGION_IDS,
            "region_ids has",
        ),
        (
            lambda q, kw: (q, {**kw, "region_ids": kw["region_ids"].repeat(2, 1)[:3]}),
            ReasonCode.REGION_IDS,
            "not a multiple of nW",
        ),
        (lambda q, kw: (q[0], kw), ReasonCode.RANK, "q has 3 dims"),
    ],
)
def test_window_reasons(change, code, text, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    q, inputs = change(*_window_inputs())
    reasons = tb.TritonBackend().not_supported_reasons(WindowAttentionRequest(q, **inputs))
    assert code in _codes(reasons), reasons
    assert any(text in str(r) for r in reasons if r.code is code), reasons


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda q, kw: (q, {**kw, "bias": kw["bias"][:, :2]}), ReasonCode.BIAS),
        (
            lambda q, kw: (q, {**kw, "key_padding_mask": kw["key_padding_mask"].int()}),
            ReasonCode.KEY_PADDING_MASK,
        ),
        (
            lambda q, kw: (q, {**kw, "key_padding_mask": kw["key_padding_mask"][:1]}),
            ReasonCode.KEY_PADDING_MASK,
        ),
        (lambda q, kw: (q, {**kw, "v": kw["v"][:, :, :2]}), ReasonCode.SHAPE_MISMATCH),
        (lambda q, kw: (q.half(), kw), ReasonCode.DTYPE_MISMATCH),
        (lambda q, kw: (q.bfloat16(), {k: v.bfloat16() for k, v in kw.items()}), None),
    ],
)
def test_attention_reasons(change, code, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    q, inputs = _attention_inputs()
    if code is None:  # bf16 on CPU: every input cast, the mask cast back to bool
        q, inputs = change(q, {k: v for k, v in inputs.items() if k != "key_padding_mask"})
        code = ReasonCode.DTYPE_ON_DEVICE
    else:
        q, inputs = change(q, inputs)
    reasons = tb.TritonBackend().not_supported_reasons(AttentionRequest(q, **inputs))
    assert code in _codes(reasons), reasons


def test_missing_triton_is_a_reason(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setattr(tb, "_triton_import_error", lambda: "triton is not importable (test)")
    request = _attention_request()
    reasons = tb.TritonBackend().not_supported_reasons(request)
    assert [(r.code, str(r)) for r in reasons] == [
        (ReasonCode.TRITON_UNAVAILABLE, "triton is not importable (test)")
    ]
    assert select_backend(request).name == "sdpa"


def test_valid_inputs_have_no_reasons(device):
    backend = tb.TritonBackend()
    assert backend.not_supported_reasons(_window_request(device=device)) == []
    assert backend.not_supported_reasons(_attention_request(device=device)) == []


def test_onnx_export_uses_sdpa(device, tmp_path):
    """Where auto picks Triton, ONNX export still works: its custom ops have no ONNX form, so
    the backend refuses while exporting and SDPA's standard operators are exported."""
    onnx = pytest.importorskip("onnx")
    from hybridnets.layers import WindowAttention

    layer = WindowAttention(16, 2, 2, window_size=3, shift_size=1).to(device).eval()
    x = torch.randn(1, 4, 5, 16, device=device)
    request = _window_request(device=device)
    assert select_backend(request).name == "triton"
    path = tmp_path / "window_attention.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation warning
        torch.onnx.export(layer, (x,), path, dynamo=False)
    ops_used = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "Softmax" in ops_used and not any("hybridnets" in op for op in ops_used), ops_used


def test_interpreter_set_after_triton_import_is_refused(monkeypatch):
    """Setting TRITON_INTERPRET in a running process is too late for Triton's interpreter: a
    reason that says so, not Triton's InterpreterError from inside the kernel."""
    triton_language = pytest.importorskip("triton.language")
    from triton.runtime.interpreter import InterpretedFunction

    if isinstance(triton_language.sum, InterpretedFunction):
        pytest.skip("TRITON_INTERPRET was set before Python started: the interpreter works")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    request = _attention_request()
    reasons = tb.TritonBackend().not_supported_reasons(request)
    assert _codes(reasons) == {ReasonCode.DEVICE}, reasons
    assert "only after Triton was imported" in str(reasons[0])
    with pytest.raises(BackendUnavailableError, match="before Python starts"):
        ops.attention(request.q, request.k, request.v, backend="triton")
    assert select_backend(request).name == "sdpa"


def test_auto_dispatch_runs_triton(device):
    q, inputs = _window_inputs(device)
    assert select_backend(WindowAttentionRequest(q, **inputs)).name == "triton"
    out = ops.window_attention(q, **inputs)
    ref = window_attention_reference(q, **inputs)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)
    q, inputs = _attention_inputs(device)
    out = ops.attention(q, backend="triton", **inputs)
    torch.testing.assert_close(out, attention_reference(q, **inputs), atol=1e-4, rtol=1e-4)


def test_opcheck_custom_ops(device):
    q, inputs = _window_inputs(device, bw=2, h=1, n=4, nw=1)
    table = inputs["rpb_table"][:1].requires_grad_()
    args = (q.requires_grad_(), inputs["k"], inputs["v"], table, inputs["rel_index"] % 4)
    torch.library.opcheck(
        torch.ops.hybridnets.window_attention.default, (*args, inputs["region_ids"], 0.25)
    )
    q, inputs = _attention_inputs(device, b=1, h=1, lq=3, lk=4)
    bias = inputs["bias"][:1, :3, :4].clone().requires_grad_()
    args = (q.requires_grad_(), inputs["k"], inputs["v"], bias, inputs["key_padding_mask"], 0.25)
    torch.library.opcheck(torch.ops.hybridnets.attention.default, args)


def test_torch_compile_traces_the_ops(device):
    q, inputs = _attention_inputs(device)
    q.requires_grad_()

    @torch.compile(backend="aot_eager", fullgraph=True)
    def f(q, k, v, bias, key_padding_mask):
        return ops.attention(q, k, v, bias, key_padding_mask, backend="triton").square().sum()

    f(q, **inputs).backward()
    ref_q = q.detach().clone().requires_grad_()
    attention_reference(ref_q, **inputs).square().sum().backward()
    torch.testing.assert_close(q.grad, ref_q.grad, atol=1e-4, rtol=1e-4)


def test_flop_counter_counts_forward_and_backward(device):
    q, inputs = _window_inputs(device)
    q.requires_grad_()
    bw, h, n, d = q.shape
    forward = 4 * bw * h * n * n * d
    with FlopCounterMode(display=False) as counter:
        out = ops.window_attention(q, backend="triton", **inputs)
    assert counter.get_total_flops() == forward
    with FlopCounterMode(display=False) as counter:
        out.sum().backward()
    assert counter.get_total_flops() == forward * 5 // 2
    assert counter.get_total_flops() == attention_flops(q.shape, q.shape, backward=True)


def test_torch_compile_follows_use_backend(device):
    """The backend in force (a ContextVar) is read while tracing, without a graph break."""
    q, inputs = _window_inputs(device)
    q.requires_grad_()
    targets = []

    def record(gm: torch.fx.GraphModule, example_inputs):
        targets.extend(str(node.target) for node in gm.graph.nodes)
        return gm.forward

    @torch.compile(backend=record, fullgraph=True)
    def f(q, k, v, rpb_table, rel_index, region_ids):
        return ops.window_attention(q, k, v, rpb_table, rel_index, region_ids)

    with ops.use_backend("triton"):
        out = f(q, **inputs)
    assert any("hybridnets.window_attention" in t for t in targets), targets
    out.sum().backward()
    ref_q = q.detach().clone().requires_grad_()
    window_attention_reference(ref_q, **inputs).sum().backward()
    torch.testing.assert_close(q.grad, ref_q.grad, atol=1e-4, rtol=1e-4)
