#!/usr/bin/env bash
# The main job: the workbench app on the bundled speech when there is a screen; on a machine without one,
# the batch quality report on the bundled speech (the same numbers the app shows), and how to open it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    exec .venv/bin/lfsc-workbench "$@"
fi
echo "run: no display found, so running the batch report on the bundled speech instead of the app"
echo "run: (for the app: run 'make run' in a desktop session, or 'xvfb-run .venv/bin/lfsc-workbench')"
.venv/bin/lfsc-eval run --out runs/bundled --keep-audio --jobs 2 "$@"
echo "run: report written to runs/bundled/report.html"
