#!/usr/bin/env bash
# The one command of the GPU check, for the lent GPU machine (JAX with CUDA and
# PyTorch there, no TensorFlow, no registry). It installs the carried wheels
# (keras, namex, optree: fetch them first, here, with scripts/gpu_wheels.sh),
# prints the machine and the versions, and runs scripts/gpu_check.py on the
# JAX backend: every layer's forward and gradients on the GPU against the CPU
# (1e-4 relative), then train-step throughput of rnnx LSTM / PeepholeLSTM /
# GRU / ClockworkRNN beside keras.layers.LSTM (JAX) and torch.nn.LSTM (cuDNN),
# B=64 T=100 D=U=512, float32 and bfloat16. It took 99 s on an H200 (the
# python part 89 s) on 2026-11-28; the python part is cut at 450 s (its own
# --budget-s 400 skips late throughput rows first, so it ends by itself).
#
# Usage, from a session that is lent a device (once, here: bash scripts/gpu_wheels.sh),
# the device tool's run with:
#     command="bash scripts/gpu_check.sh", carry=[".whl"], timeout_s=480
# then give_back unless rerunning at once.
# Results: $OUT/gpu_check.json, $OUT/gpu_check.txt (the tables), $OUT/gpu_check.log.
# Extra arguments go to gpu_check.py (e.g. --steps 20, --skip-throughput).
# Locally (CPU, no wheels needed): KERAS_BACKEND=jax python scripts/gpu_check.py --device cpu --quick
#
# Exit status: non-zero when the wheels do not install, keras does not import,
# a correctness case fails or a row errors (a missed speed target does not fail).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python3}

if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "gpu_check.sh: no wheels in .whl/ (run scripts/gpu_wheels.sh here, and carry [\".whl\"])" >&2
    exit 2
fi
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || { echo "gpu_check.sh: wheel install failed" >&2; exit 2; }
export PYTHONPATH=/tmp/site:$PWD
export KERAS_BACKEND=jax
export PYTHONUNBUFFERED=1
export TF_CPP_MIN_LOG_LEVEL=2
# JAX preallocates 75% of the GPU by default; leave torch (its subprocess) room.
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.5}

{
    echo "== machine"
    nvidia-smi || echo "(nvidia-smi failed)"
    echo "== versions"
    "$PY" - <<'PY'
import importlib.metadata as m, platform, sys
print("python", platform.python_version(), sys.executable)
for name in ("jax", "jaxlib", "jax-cuda13-plugin", "keras", "namex", "optree", "numpy",
             "ml-dtypes", "torch"):
    try:
        print(f"{name:18} {m.version(name)}")
    except m.PackageNotFoundError:
        print(f"{name:18} (not installed)")
import keras, jax
print("keras backend", keras.backend.backend(), "| jax devices", jax.devices())
PY
} 2>&1 | tee "$OUT_DIR/gpu_check.log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
    echo "gpu_check.sh: keras or jax does not import (status $status)" >&2
    exit "$status"
fi

echo "== gpu_check.py" | tee -a "$OUT_DIR/gpu_check.log"
timeout 450 "$PY" scripts/gpu_check.py --out "$OUT_DIR" "$@" 2>&1 | tee -a "$OUT_DIR/gpu_check.log"
status=${PIPESTATUS[0]}
case "$status" in
    0) echo "gpu_check.sh: OK" ;;
    124) echo "gpu_check.sh: gpu_check.py ran past 450 s (partial results in $OUT_DIR/gpu_check.json)" ;;
    *) echo "gpu_check.sh: FAILED (status $status; see $OUT_DIR/gpu_check.txt)" ;;
esac
exit "$status"
