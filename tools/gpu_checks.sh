#!/usr/bin/env bash
# The GPU measurements issue #8 asks for, as one device call (about 5 minutes on an H100 after the start):
#     device run: command "bash tools/gpu_checks.sh", timeout_s 560
# Uses the device image's python3 (PyTorch with CUDA, numpy, PyYAML); needs nothing carried. Writes a seeded
# random-weight full-size LFSC to /tmp first (speed does not depend on the weights). Output: $OUT/*.txt.
set -uo pipefail
export PYTHONUNBUFFERED=1
out=${OUT:-/tmp/gpu_checks}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 | tee "$out/gpu.txt"
# fp32 and bf16, eager, batch 1 and 64, against NeMo's arithmetic on the same GPU.
timeout 240 python3 benchmarks/gpu_bench.py --batch 1 64 --repeats 5 2>&1 | tee "$out/gpu_bench_eager.txt"
# Whether torch.compile and CUDA graphs pay off where they matter most: bf16, batch 64 and batch 1.
timeout 270 python3 benchmarks/gpu_bench.py --precisions bf16 --batch 64 1 --repeats 5 \
    --compile default reduce-overhead 2>&1 | tee "$out/gpu_bench_compile.txt"
