"""`lfsc-eval`: batch evaluation of codecs over a manifest or folder, reports, run comparison, and pooled MUSHRA
listening-test results."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from codec.errors import UserError, run_cli


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lfsc-eval", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    _add_run(sub)

    merge = sub.add_parser(
        "merge", help="join run folders of one evaluation (e.g. the --shard runs of a Slurm array) into a new one",
        description="Join run folders made with the same codecs and settings (e.g. the --shard runs of a Slurm "
        "array) into a new run folder, with the report a single run would have written. Runs that disagree on a "
        "pair they both hold are refused.",
    )
    merge.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="the run folders to merge")
    merge.add_argument("--out", type=Path, required=True, help="the merged run folder (new)")

    report = sub.add_parser("report", help="rewrite the CSV/JSON/Markdown/HTML report of a run folder")
    report.add_argument("run", type=Path)

    compare = sub.add_parser("compare", help="paired per-utterance differences between two runs (B - A)")
    compare.add_argument("run_a", type=Path)
    compare.add_argument("run_b", type=Path)
    compare.add_argument("--json", type=Path, help="also write the comparison as JSON here")

    tokens = sub.add_parser(
        "tokens", help="token diagnostics per language: codebook use, entropy, entropy-coded bits, re-encode idempotence",
        description="Encode every utterance with a token codec (lfsc, lfsc-bf16, lfsc+ac, nemo:PATH, hf:MODEL), decode "
        "it and encode "
        "the result again; write tokens.json and tokens.md into OUT: per language and over all, the codes each "
        "codebook uses, their entropy, how many tokens survive decoding and encoding again, and the measured bits per "
        "frame of every entropy-coding model (adaptive; static and context priors fitted on a train part) on a test "
        "part, against the fixed frame (88 bits for LFSC).",
    )
    tokens.add_argument("--codec", default="lfsc",
                        help="a codec with tokens: lfsc (default), lfsc-bf16, lfsc+ac, nemo:PATH, hf:MODEL[:N]")
    _input_arguments(tokens)
    tokens.add_argument("--test-manifest", type=Path, help="measure entropy coding on this manifest's utterances "
                        "(default: every 5th utterance of each language of the input, held out from fitting)")
    tokens.add_argument("--fit-prior", type=Path, metavar="DIR", help="also write the priors fitted on the train part "
                        "(static-all.lfep, context-en.lfep, ...) into this new or empty folder, for "
                        "lfsc-codec --entropy prior:FILE")
    tokens.add_argument("--out", type=Path, required=True, help="folder for tokens.json and tokens.md (created)")

    _add_lookahead(sub)
    _add_manifest(sub)

    mushra = sub.add_parser(
        "mushra", help="pool MUSHRA results of several listeners: post-screening, scores, metric agreement",
        description="Pool the MUSHRA results the workbench saves (blind-tests/blind-mushra-*.json), one file per "
        "listener session: screen each listener by the ITU-R BS.1534-3 rule, leave out the excluded, and give the "
        "mean score per condition and the agreement (Spearman's rho) of every measured metric with the ratings.",
    )
    mushra.add_argument("results", nargs="+", type=Path, help="saved MUSHRA .json results")
    mushra.add_argument("--keep-excluded", action="store_true", help="pool listeners the post-screening excludes too")
    mushra.add_argument("--json", type=Path, help="also write the pooled results as JSON here")

    sub.add_parser("metrics", help="list the metrics with their rates and ranges")
    return parser


def _add_run(sub: argparse._SubParsersAction) -> None:
    """The `run` command and its arguments."""
    run = sub.add_parser(
        "run", help="round-trip every utterance through every codec and write a report",
        description="Round-trip every utterance through every codec and write a report. An utterance whose audio "
        "cannot be read is skipped and named (exit status 1); the others are evaluated.",
    )
    run.add_argument(
        "--codec", action="append", metavar="NAME",
        help="codec name (repeatable); see `lfsc-codec list` (default: lfsc when a checkpoint is configured, "
        "plus opus-6k and codec2-3200 as references)",
    )
    run.add_argument(
        "--condition", action="append", metavar="SPEC",
        help="also run every codec, and identity as the floor, on inputs under this condition (repeatable): "
        "white<SNR dB> or pink<SNR dB> noise, reverb<RT60 s>, level<dBFS>, tel (telephone band); chain with @, "
        "e.g. reverb0.6@white10. Metrics still compare with the clean input",
    )
    _input_arguments(run)
    run.add_argument("--out", type=Path, required=True,
                     help="run folder (created; an existing run there is resumed when its settings are these, and "
                     "codecs may be added to it; one run at a time)")
    run.add_argument("--metrics", nargs="+", metavar="NAME", help="metrics to compute (default: all; 'asr' = cer wer)")
    run.add_argument("--asr-model", type=Path, help="a local CTranslate2 Whisper model folder (default: bundled Whisper base)")
    run.add_argument("--keep-audio", action="store_true",
                     help="save the decoded audio each row scored under OUT/audio/, as float32 WAV (linked from the report)")
    run.add_argument("--jobs", type=int, default=1, help="processes for the CPU metrics (default 1)")
    run.add_argument("--cache", type=Path, help="cache folder (default: $LFSC_CACHE/eval or ~/.cache/lfsc-workbench/eval)")
    run.add_argument("--no-cache", action="store_true", help="compute everything, store nothing in the cache")
    run.add_argument("--shard", metavar="I/N", help="evaluate only shard I of N (counted from 0; an utterance's "
                     "shard is a hash of its id), e.g. $SLURM_ARRAY_TASK_ID/4 in a Slurm array; join the runs "
                     "with `lfsc-eval merge`")
    run.add_argument("--engine", choices=("local", "ray"), default="local",
                     help="local: this machine, --jobs processes (default); ray: a Ray cluster, codecs and models "
                     "on GPU actors when it has GPUs, else one Ray task per utterance (needs the scale extra; "
                     "workers read the audio and cache at these paths)")
    run.add_argument("--address", help="with --engine ray: auto (the cluster of `ray start`) or HOST:PORT of its "
                     "head (default: start Ray on this machine)")
    run.add_argument("--gpus-per-actor", type=float, metavar="F", help="with --engine ray: GPUs each model actor "
                     "holds (0: actors on CPUs; default 1 when the cluster has GPUs, else no actors)")
    run.add_argument("--batch-seconds", type=float, metavar="S", help="with --engine ray: audio per model actor "
                     "batch, utterances of similar duration together (default 60)")


def _add_lookahead(sub: argparse._SubParsersAction) -> None:
    """The `lookahead` command: LFSC coded live with each lookahead, against whole-file coding."""
    sweep = sub.add_parser(
        "lookahead", help="LFSC coded live per lookahead: latency, deviation from whole-file coding, quality",
        description="Push every utterance through a live LFSC stream with each lookahead (in 20 ms blocks, at the "
        "clip's rate) and write lookahead.json, lookahead.md and lookahead.png into OUT: each lookahead's algorithmic "
        "latency, its token agreement and SNR against whole-file coding, and its quality metrics (the scoring path "
        "of `lfsc-eval run`).",
    )
    sweep.add_argument("--codec", default="lfsc", help="an LFSC codec: lfsc (default) or lfsc-bf16")
    sweep.add_argument("--lookahead", nargs="+", type=int, default=[0, 2, 4, 8, 13, 20], metavar="FRAMES",
                       help="lookaheads in frames of 46.4 ms (default: 0 2 4 8 13 20; 19 and more is exact for LFSC)")
    sweep.add_argument("--hop", type=int, help="frames coded per live step (default: the codec's, 4 for LFSC)")
    sweep.add_argument("--metrics", nargs="+", metavar="NAME", help="quality metrics (default: pesq_wb stoi mel_distance)")
    _input_arguments(sweep)
    sweep.add_argument("--out", type=Path, required=True, help="folder for the sweep's files (created)")


def _add_manifest(sub: argparse._SubParsersAction) -> None:
    """The `manifest` command: a downloaded standard corpus as a manifest."""
    from_corpus = sub.add_parser(
        "manifest", help="write a manifest of a downloaded corpus: MLS, FLEURS, LibriSpeech, Common Voice or DAPS",
        description="List a split of a corpus you have downloaded, with its transcripts, speakers and ISO 639-1 "
        "languages, as a new NeMo-style manifest for --manifest (absolute audio paths; an existing file is never "
        "written over). An audio file that cannot be read is listed without a duration, named, and the exit "
        "status is 1; `lfsc-eval run` skips it.",
    )
    from_corpus.add_argument("--corpus", required=True, choices=["mls", "fleurs", "librispeech", "commonvoice", "daps"])
    from_corpus.add_argument("--root", type=Path, required=True, help="the folder the corpus was downloaded into: "
                             "mls: holding mls_<language>[_opus]/; fleurs: holding <lang>/ and metadata/ (Lhotse's "
                             "download_fleurs); librispeech: holding test-clean/ ...; commonvoice: cv-corpus-<version>/ "
                             "holding <locale>/; daps: holding clean/ and scripts/")
    from_corpus.add_argument("--lang", nargs="+", metavar="L", help="only these languages (ISO 639-1; default: all)")
    from_corpus.add_argument("--split", help="the split to list (default: test; LibriSpeech: every test-* part, or "
                             "name one such as test-clean); DAPS has none")
    from_corpus.add_argument("--out", type=Path, required=True, help="the manifest to write (.jsonl; must not exist)")


def _manifest(args: argparse.Namespace) -> int:
    from collections import Counter

    from eval import corpora

    corpora.check_new(args.out)  # before reading a large corpus
    utterances = corpora.read_corpus(args.corpus, args.root, args.lang, args.split)
    unreadable = corpora.write_manifest(utterances, args.out)
    langs = ", ".join(f"{lang} {n}" for lang, n in sorted(Counter(u.lang for u in utterances).items()))
    print(f"{len(utterances)} utterances ({langs}) in {args.out}")
    for utterance in unreadable:
        print(f"lfsc-eval: {utterance.id}: {utterance.problem}", file=sys.stderr)
    if unreadable:
        print(f"lfsc-eval: {len(unreadable)} audio file(s) cannot be read: they are listed without a duration and "
              "`lfsc-eval run` skips them", file=sys.stderr)
    return 1 if unreadable else 0


def _lookahead(args: argparse.Namespace) -> int:
    from eval import lookahead
    from eval.runner import build_codec

    lookahead.check_out(args.out)
    utterances, source, _ = _utterances(args)
    codec = build_codec(args.codec, args.checkpoint)
    document = lookahead.sweep(codec, utterances, args.lookahead, args.hop, tuple(args.metrics or lookahead.DEFAULT_METRICS),
                               lambda utt_id: print(f"lookahead: {utt_id} done", file=sys.stderr))
    document["input"] = source
    print(lookahead.write(document, args.out))
    for utt_id, reason in document["skipped"].items():
        print(f"lfsc-eval: skipped {utt_id}: {reason}", file=sys.stderr)
    return 1 if document["skipped"] else 0


def _input_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--manifest", type=Path, help="NeMo-style JSONL manifest, or a Lhotse CutSet or RecordingSet "
                        "(.jsonl or .jsonl.gz) (default: the bundled assets/speech set)")
    source.add_argument("--folder", type=Path, help="folder of audio files with sidecar .txt transcripts")
    parser.add_argument("--supervisions", type=Path, help="the Lhotse SupervisionSet of a Lhotse RecordingSet given as "
                        "--manifest (a Lhotse CutSet needs none)")
    parser.add_argument("--lang", help="ISO 639-1 language of the --folder audio, or of Lhotse supervisions that name "
                        "none (needed for CER/WER)")
    parser.add_argument("--limit", type=int, help="only the first N utterances")
    parser.add_argument("--checkpoint", help="LFSC .nemo checkpoint (default: $LFSC_CHECKPOINT, then the user config)")


def _utterances(args: argparse.Namespace) -> tuple[list, str, Path]:
    """The utterances the input arguments name, a description of where they came from, and the manifest or folder
    that lists them."""
    from codec.bundled_speech import default_manifest
    from eval import manifest as manifests

    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    if args.folder is not None:
        if args.supervisions is not None:
            raise UserError("--supervisions applies to a Lhotse RecordingSet given as --manifest, not to --folder")
        utterances = manifests.load_folder(args.folder, args.lang)
        listing = args.folder.resolve()
        source = f"folder {listing}"
    else:
        from eval import lhotse_manifest

        listing = Path(args.manifest or default_manifest()).resolve()
        if args.supervisions is not None or lhotse_manifest.kind(listing) is not None:
            utterances = lhotse_manifest.load_lhotse(listing, args.supervisions, args.lang)
            source = f"Lhotse manifest {listing}" + (f" with {args.supervisions.resolve()}" if args.supervisions else "")
        elif args.lang is not None:
            raise UserError("--lang applies to --folder and Lhotse input only: a manifest names each utterance's language")
        else:
            utterances = manifests.load_manifest(listing)
            source = f"manifest {listing}"
    return utterances[: args.limit], source, listing


def _tokens(args: argparse.Namespace) -> int:
    from eval import manifest as manifests
    from eval import token_coding, tokens
    from eval.runner import build_codec

    utterances, source, _ = _utterances(args)
    test = manifests.load_manifest(args.test_manifest) if args.test_manifest is not None else None
    split = token_coding.split(utterances, test)
    if args.fit_prior is not None:
        token_coding.check_prior_folder(args.fit_prior)  # before any work
    codec = build_codec(args.codec, args.checkpoint)
    if not hasattr(codec, "tokens"):
        raise UserError(f"{args.codec} has no tokens to diagnose: use a token codec such as lfsc, lfsc+ac, nemo:PATH or "
                        "hf:MODEL")
    collected = _collect(codec, split.train + split.test)
    num_codebooks, codebook_size, frame_rate = tokens.token_layout(codec)
    pairs, n = list(zip(split.train + split.test, collected.tokens)), len(split.train)
    train = token_coding.by_group([(u, t) for u, t in pairs[:n] if t is not None])
    test_groups = token_coding.by_group([(u, t) for u, t in pairs[n:] if t is not None])
    priors = token_coding.fit_priors(train, codebook_size)
    if args.fit_prior is not None and not priors:
        raise UserError(f"--fit-prior {args.fit_prior}: no train utterances to fit priors on: give more utterances")
    written = token_coding.write_priors(priors, args.fit_prior) if args.fit_prior is not None else {}
    coding = token_coding.measure(test_groups, priors, num_codebooks, codebook_size, frame_rate)
    summary = tokens.summarize(collected.groups, frame_rate)
    report = tokens.markdown(summary, collected.skipped) + "\n" + token_coding.markdown(coding, split.how, train, written)
    document = {"input": source, "test_input": str(args.test_manifest.resolve()) if test is not None else None,
                "codec": args.codec, "settings": codec.settings, "groups": summary, "skipped": collected.skipped,
                "split": split.how, "coding": coding, "priors": written}
    _write_tokens_report(args.out, document, report)
    return 1 if collected.skipped else 0


def _collect(codec, utterances: list):
    """`eval.tokens.collect` under a progress bar."""
    from tqdm import tqdm

    from eval import tokens

    with tqdm(total=len(utterances), unit="utt", desc="tokens", dynamic_ncols=True) as bar:
        return tokens.collect(codec, utterances, lambda done, utt_id: bar.update(1))


def _write_tokens_report(out: Path, document: dict, report: str) -> None:
    """tokens.json and tokens.md into `out`, the report on stdout and the utterances skipped on stderr."""
    from codec.files import write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "tokens.json", json.dumps(document, indent=2))
    write_text_atomic(out / "tokens.md", report)
    print(report)
    for utt_id, reason in document["skipped"].items():
        print(f"lfsc-eval: skipped {utt_id}: {reason}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    from eval.runner import run

    utterances, source, listing = _utterances(args)
    for option in ("address", "gpus_per_actor", "batch_seconds"):
        if getattr(args, option) is not None and args.engine != "ray":
            raise UserError(f"--{option.replace('_', '-')} applies to --engine ray only")
    if args.shard is not None:
        from eval import shards

        index, count = shards.parse(args.shard)
        utterances = shards.select(utterances, index, count)
        source = f"{source}, shard {index}/{count}"
    engine = None
    if args.engine == "ray":
        from eval.ray_engine import DEFAULT_BATCH_SECONDS, RayEngine

        engine = RayEngine(args.address, args.gpus_per_actor,
                           DEFAULT_BATCH_SECONDS if args.batch_seconds is None else args.batch_seconds)
    if args.folder is not None and args.out.resolve().is_relative_to(listing):
        raise UserError(f"{args.out}: is inside the --folder it evaluates ({listing}): the audio it keeps would be read "
                        "as input by the next run over that folder; give an --out outside it")
    codecs = args.codec
    if not codecs:
        codecs = default_codecs()
        print(f"codecs (default): {', '.join(codecs)}", file=sys.stderr)
    if args.condition:
        from codec.spec import sweep

        codecs = sweep(codecs, args.condition)
        print(f"codecs with conditions: {', '.join(codecs)}", file=sys.stderr)
    result = run(
        utterances, codecs, args.out, metrics=args.metrics, asr_model=args.asr_model, keep_audio=args.keep_audio,
        jobs=args.jobs, cache_dir=None if args.no_cache else (args.cache or True), show_progress_bar=True, source=source,
        checkpoint=args.checkpoint, protect=[listing] if args.folder is None else [], engine=engine,
    )
    print(f"{result.rows_new} new rows ({result.rows_from_cache} from cache), {result.rows_total} in {result.out_dir}; "
          f"report: {result.out_dir / 'report.html'}")
    for utt_id, reason in result.skipped.items():
        print(f"lfsc-eval: skipped {utt_id}: {reason}", file=sys.stderr)
    if result.skipped:
        print(f"lfsc-eval: {len(result.skipped)} utterance(s) could not be read and are not in the report's numbers "
              f"(listed in {result.out_dir / 'skipped.json'}); fix them and run again to add them", file=sys.stderr)
        return 1
    return 0


def default_codecs() -> list[str]:
    """LFSC when it can run here, with two classical references at similar and higher bitrates."""
    from codec.registry import list_codecs

    lfsc = [e.name for e in list_codecs() if e.name == "lfsc" and e.available()[0]]
    return lfsc + ["opus-6k", "codec2-3200"]


def _mushra(args: argparse.Namespace) -> None:
    from eval.listening import describe, describe_screening, load_sessions, pool

    pooled = pool(load_sessions(args.results), keep_excluded=args.keep_excluded)
    for listener in pooled["listeners"]:
        print(describe_screening(listener, f"{listener['listener'] or 'unnamed listener'} ({listener['path']})"))
    print(f"\nPooled: {pooled['pooled_listeners']} of {len(pooled['listeners'])} listeners, "
          f"{pooled['ratings']} ratings (intervals resample the listeners, then each one's items)\n")
    print(describe(pooled))
    if args.json is not None:
        args.json.write_text(json.dumps(pooled, indent=2), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `lfsc-eval`: user mistakes print one line and exit 2, never a traceback."""
    args = _parser().parse_args(argv)
    interrupted = "interrupted"
    if args.command == "run":
        interrupted = (f"interrupted: the rows so far are kept in {args.out}; run the same command again to resume "
                       "where it stopped")
    return run_cli("lfsc-eval", lambda: _command(args), interrupted)


def _command(args: argparse.Namespace) -> int | None:
    if args.command == "run":
        return _run(args)
    if args.command == "tokens":
        return _tokens(args)
    if args.command == "lookahead":
        return _lookahead(args)
    if args.command == "manifest":
        return _manifest(args)
    if args.command == "report":
        from eval import run_folder
        from eval.report import write_report

        with run_folder.locked(args.run):  # not while a run writes the folder
            print(f"report: {write_report(args.run).out_dir / 'report.html'}")
    elif args.command == "merge":
        from eval.merge import merge

        merged = merge(args.runs, args.out)
        print(f"{len(merged.rows)} rows from {len(args.runs)} runs in {args.out}; report: {args.out / 'report.html'}")
    elif args.command == "compare":
        from eval.report import compare, compare_markdown

        result = compare(args.run_a, args.run_b)
        if args.json is not None:
            args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
        print(compare_markdown(result))
    elif args.command == "mushra":
        _mushra(args)
    elif args.command == "metrics":
        from eval.metrics import METRICS

        for spec in METRICS.values():
            direction = "higher is better" if spec.higher_is_better else "lower is better"
            print(f"{spec.name:14s} {spec.rate:6d} Hz  range {spec.range[0]:g}..{spec.range[1]:g}  {direction}  {spec.description}")
        print(f"{'cer, wer':14s} {16000:6d} Hz  range 0..  lower is better  ASR error rates (faster-whisper), with the floor on the original and the delta")
    return None

if __name__ == "__main__":
    sys.exit(main())
