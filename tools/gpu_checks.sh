#!/usr/bin/env bash
# The GPU measurements issue #8 asks for, as one device call (about 5 minutes on an H200 after the start):
#     device run: command "bash tools/gpu_checks.sh", timeout_s 420
# Uses the device image's python3 (PyTorch with CUDA, numpy, PyYAML); needs nothing carried. Writes a seeded
# random-weight full-size LFSC to /tmp first (speed does not depend on the weights). Output: $OUT/*.txt.
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD  # the repo's packages, not installed there
out=${OUT:-/tmp/gpu_checks}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 | tee "$out/gpu.txt"
# fp32, bf16 and fp16, eager, batch 1 and 64, against NeMo's arithmetic on the same GPU.
timeout 170 python3 benchmarks/gpu_bench.py --precisions fp32 bf16 fp16 --batch 1 64 --repeats 5 2>&1 \
    | tee "$out/gpu_bench_eager.txt"
# torch.compile with CUDA graphs where it matters most: bf16, batch 64 and batch 1. (Mode 'default' ran as fast
# as 'reduce-overhead' at batch 64 and slower at batch 1 in an earlier run: docs/performance.md.)
timeout 220 python3 benchmarks/gpu_bench.py --precisions bf16 --batch 64 1 --repeats 5 --compile reduce-overhead 2>&1 \
    | tee "$out/gpu_bench_compile.txt"
