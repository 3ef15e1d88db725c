"""Save PNG screenshots of the workbench's main views (offscreen): python tools/screenshots.py OUT_DIR [CLIP]."""

import sys

from workbench.app import main

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python tools/screenshots.py OUT_DIR [AUDIO_FILE]")
    sys.exit(main(["--screenshots", sys.argv[1], *sys.argv[2:]]))
