#!/usr/bin/env bash
# GPU readiness check, one call of under 10 minutes on a CUDA machine (`make gpu-check`):
#   1. the gpu-marked tests (Triton kernels at Swin-T / 3D / cross-attention shapes, autotuned),
#   2. model-level Triton-vs-reference parity and the first-use self-check, natively on CUDA,
#   3. benchmarks/attention_backends.py at the Swin-T and 3D shapes, bf16, triton vs sdpa (vs flex with
#      GPU_CHECK_FLEX=1),
#   4. benchmarks/latency.py: convvit_t vs convnext_tiny and swin_tiny_patch4_window7_224, bf16.
# Writes logs and JSON to $GPU_CHECK_OUT (default benchmarks/results/gpu_check) and a
# summary.json with each step's exit code and seconds. Exits 2 without CUDA, 1 if a step failed.
# Python: $PYTHON, else .venv/bin/python, else python3.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
OUT=${GPU_CHECK_OUT:-benchmarks/results/gpu_check}
export PYTHONUNBUFFERED=1
unset TRITON_INTERPRET HYBRIDNETS_ATTN_BACKEND

if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu_check: no CUDA device visible to torch in $PYTHON; run this on a GPU machine." >&2
    exit 2
fi
if ! "$PYTHON" -c 'import hybridnets.kernels' 2>/dev/null; then
    echo "gpu_check: hybridnets is not installed for $PYTHON; installing it in place (--no-deps)."
    "$PYTHON" -m pip install -q --no-deps --no-build-isolation -e . || exit 1
fi
"$PYTHON" - <<'EOF' || exit 1
import importlib.util, sys
missing = [m for m in ("triton", "timm", "einops", "pytest") if not importlib.util.find_spec(m)]
if missing:
    sys.exit(f"gpu_check: missing Python packages {missing}: install them or carry them as wheels")
if not importlib.util.find_spec("fvcore"):
    print("gpu_check: fvcore is missing, so the latency step (GMACs) will fail", file=sys.stderr)
EOF

mkdir -p "$OUT"
declare -a STEPS=()
failed=0

# step NAME SECONDS REQUIRED CMD...: run CMD under a time limit, log to $OUT/NAME.log.
step() {
    local name=$1 limit=$2 required=$3
    shift 3
    local start=$SECONDS
    echo "== $name (limit ${limit}s): $*"
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc after $((SECONDS - start))s"
    STEPS+=("$name $rc $((SECONDS - start)) $required")
    if [ "$rc" -ne 0 ] && [ "$required" = yes ]; then failed=1; fi
}

step gpu_tests 200 yes "$PYTHON" -m pytest -q -p no:cacheprovider -m gpu \
    tests/kernels tests/ops tests/layers tests/models
step parity_tests 90 yes env HYBRIDNETS_TRITON_AUTOTUNE=0 "$PYTHON" -m pytest -q \
    -p no:cacheprovider tests/ops/test_triton_models.py tests/ops/test_selfcheck.py
step kernels 120 yes "$PYTHON" benchmarks/attention_backends.py --device cuda \
    --shapes swin_t_stage1,swin_t_stage3,swin3d_w7_96 --dtypes bf16 --backends triton,sdpa \
    --warmup 5 --iters 20 --json "$OUT/kernels.json"
step latency 100 yes "$PYTHON" benchmarks/latency.py --device cuda --dtype bf16 \
    --models convvit_t,convnext_tiny,swin_tiny_patch4_window7_224 --input-size 224 \
    --batch-size 1,64 --mode both --warmup 5 --iters 20 --json "$OUT/latency_bf16.json"
if [ "${GPU_CHECK_FLEX:-0}" = 1 ]; then
    step kernels_flex 120 no "$PYTHON" benchmarks/attention_backends.py --device cuda \
        --shapes swin_t_stage1,swin3d_w7_96 --dtypes bf16 --backends flex \
        --warmup 5 --iters 20 --json "$OUT/kernels_flex.json"
fi

"$PYTHON" - "$OUT/summary.json" "${STEPS[@]}" <<'EOF'
import json, sys
import torch, triton
path, *steps = sys.argv[1:]
rows = []
for s in steps:
    name, rc, seconds, required = s.split()
    rows.append({"step": name, "exit": int(rc), "seconds": int(seconds), "required": required == "yes"})
env = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
       "cuda": torch.version.cuda, "triton": triton.__version__}
with open(path, "w") as f:
    json.dump({"env": env, "steps": rows}, f, indent=2)
    f.write("\n")
print(json.dumps(rows))
EOF
echo "gpu_check: results in $OUT"
exit $failed
