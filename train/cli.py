"""`lfsc-train`: train LFSC from scratch or fine-tune a .nemo on NeMo-style manifests."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from codec.errors import run_cli

EPILOG = """\
examples:
  lfsc-train --manifest train.jsonl --out runs/a
  lfsc-train --manifest mls.jsonl:3 --manifest cv.jsonl:1 --out runs/b batch_size=8 precision=bf16
  lfsc-train --manifest mine.jsonl --init-from lfsc.nemo --freeze-encoder --out runs/ft max_steps=5000
  lfsc-train --out runs/a --resume max_steps=200000
  torchrun --nproc_per_node=4 -m train.cli --manifest train.jsonl --out runs/ddp
Every key of train/default.yaml can be set as key=value."""


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="lfsc-train", description=__doc__, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", action="append", default=[], metavar="FILE[:WEIGHT]",
                   help="NeMo-style manifest (JSON lines with audio_filepath[, duration]); repeat for several, "
                        "with an optional sampling weight")
    p.add_argument("--out", required=True, type=Path,
                   help="run folder: logs, samples, training state, model.nemo (a new run needs a folder that holds "
                        "none of these)")
    p.add_argument("--init-from", type=Path, metavar="X.nemo", help="start from this checkpoint (fine-tuning)")
    p.add_argument("--freeze-encoder", action="store_true", help="train the decoder only")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out (from any working folder)")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow full unpickling, which can run code in the file, of --init-from or, with --resume, of "
                        "a state.pt that needs it (one written before states were weights-only); only for files you trust")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. batch_size=8")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of `lfsc-train`."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    def body() -> None:
        from train.config import parse_overrides
        from train.data import ManifestSpec
        from train.loop import Trainer
        from train.run_folder import RunSpec

        spec = RunSpec(
            out_dir=args.out,
            manifests=[ManifestSpec.parse(m) for m in args.manifest],
            init_from=args.init_from,
            freeze_encoder=args.freeze_encoder,
            resume=args.resume,
            trust_checkpoint=args.trust_checkpoint,
        )
        Trainer(spec, parse_overrides(args.overrides)).fit()

    return run_cli("lfsc-train", body, interrupted="interrupted; continue with --resume from the last saved state")


if __name__ == "__main__":
    sys.exit(main())
