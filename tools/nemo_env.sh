#!/usr/bin/env bash
# Create or update the SEPARATE NeMo reference environment at .venv-nemo (idempotent).
# Only the NeMo-side tools (tools/make_nemo_fixture.py, tools/nemo_bench.py, tools/nemo_restore_check.py)
# run in it; the project itself and CI never need NeMo.
# torch==2.13.0 is named in the same pip command as nemo-toolkit, so pip takes the CPU wheel instead of a
# multi-GB CUDA build. The extra packages are what `nemo.collections.tts` imports but nemo-toolkit's core
# requirements do not pull in.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-nemo
stamp=$venv/.installed
if [ -f "$stamp" ] && [ "$stamp" -nt tools/nemo_env.sh ]; then
    exit 0
fi
[ -x $venv/bin/python ] || python3.11 -m venv $venv
py=$venv/bin/python
$py -m pip install -q --upgrade pip
$py -m pip install -q \
    torch==2.13.0 \
    nemo-toolkit==3.0.0 \
    hydra-core 'lightning<=2.4' omegaconf einops librosa lhotse webdataset transformers kaldialign \
    datasets matplotlib pandas wandb sentencepiece soxr soundfile \
    nv-one-logger-core nv-one-logger-training-telemetry nv-one-logger-pytorch-lightning-integration
$py -c 'from nemo.collections.tts.models import AudioCodecModel' >/dev/null
touch "$stamp"
echo "nemo_env: $venv ready"
