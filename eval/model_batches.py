"""The model stage of `--engine ray`'s actors as plain functions: the run's utterances cut into batches by duration,
and a batch started (codec round trips, ASR, speaker metric) with codecs and models the caller built once; what is
left of each unit is its CPU metrics (`eval.runner.finish_here`), as after `eval.runner.start_utterance`.

Batched only where batching is proven exact, since rows and cache entries must be the local engine's: LFSC at fp32
(`LFSCCodec.encode_many`) runs a batch's clips of equal frame count through its encoder together, which gives the
tokens it gives one by one (tests/test_inference.py, tests/test_model_batches.py; shown on CPU, not yet on a GPU);
it decodes them one by one, because its batched decoder differs from one by one in the last float bit (1.8e-7
measured on CPU). Every other codec (reduced precisions, input conditions, the baselines) round-trips one clip at
a time. The model metrics and ASR run over the whole batch (`Scorer.run_models`): Whisper the clips of each
language together (on the CPU the batched text is the one-by-one text, as for the local engine's batch of one
utterance), the speaker model and on a GPU DistillMOS all the batch's clips (batched on a GPU only).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from codec.audio import resample_blocks, resampled_length, validate
from codec.blocks import join_blocks
from codec.errors import UserError
from codec.interface import Codec, RoundTrip
from eval.manifest import Utterance
from eval.unit import Reference, Scorer, Unit

T = TypeVar("T")
Pending = tuple[Utterance, list]  # an utterance and the codecs (or their names) its rows lack


def duration_batches(pending: list[Pending], seconds: float) -> list[list[Pending]]:
    """The utterances shortest first, in consecutive batches of at most `seconds` of audio (a longer one alone), so
    that clips of equal frame count meet in a batch."""
    batches: list[list[Pending]] = []
    held = 0.0
    for item in sorted(pending, key=lambda item: item[0].duration):
        if not batches or held + item[0].duration > seconds:
            batches.append([])
            held = 0.0
        batches[-1].append(item)
        held += item[0].duration
    return batches


def batchable(codec: Codec) -> bool:
    """Whether the codec's batched round trip is proven to equal its one-by-one round trip: LFSC at fp32."""
    from codec.lfsc_codec import LFSCCodec

    return isinstance(codec, LFSCCodec) and codec.inference.precision == "fp32"


def round_trips(codec: Codec, clips: list[tuple[np.ndarray, int]]) -> list[RoundTrip | str]:
    """`codec.roundtrip` of each (samples, rate), or the refusal (UserError) it met; the encoder batched where that
    is exact (`batchable`), a batched clip's encode time its share, by length, of the batch's."""
    if len(clips) < 2 or not batchable(codec):
        return [_guarded(codec.roundtrip, samples, rate) for samples, rate in clips]
    t0 = time.perf_counter()
    native = [_at_native_rate(codec, validate(samples), rate) for samples, rate in clips]
    payloads = codec.encode_many(native, len(native))
    per_second = (time.perf_counter() - t0) / sum(len(samples) / rate for samples, rate in clips)
    out: list[RoundTrip | str] = []
    for (samples, rate), audio, payload in zip(clips, native, payloads):
        t1 = time.perf_counter()
        decoded = join_blocks(codec.decoded_at(payload, len(audio), rate, len(samples)), len(samples))
        seconds = len(samples) / rate
        out.append(RoundTrip(decoded, rate, len(payload), seconds, per_second * seconds, time.perf_counter() - t1))
    return out


def _at_native_rate(codec: Codec, samples: np.ndarray, rate: int) -> np.ndarray:
    """The samples resampled to the codec's rate as `Codec.roundtrip_blocks` resamples them."""
    length = resampled_length(len(samples), rate, codec.sample_rate)
    return join_blocks(resample_blocks([samples], rate, codec.sample_rate), length)


def start_batch(scorer: Scorer, batch: list[tuple[Utterance, list[Codec]]],
                keys: dict[str, str | None]) -> list[list[Unit] | str]:
    """Each utterance's started units through its codecs (in their order), or why it cannot be evaluated (its audio
    cannot be read, or a codec or model refused it: what the local engine skips); each codec's round trips of the
    batch run together (`round_trips`)."""
    refs = [_reference(scorer, utt) for utt, _ in batch]
    units: list[dict[str, Unit]] = [{} for _ in batch]
    for codec in {c.name: c for _, codecs in batch for c in codecs}.values():
        here = [i for i, (_, codecs) in enumerate(batch) if codec in codecs and isinstance(refs[i], Reference)]
        for i in here:
            units[i][codec.name] = scorer.look_up(refs[i], codec, keys[codec.name])
        todo = [i for i in here if not units[i][codec.name].row.cached]
        for i, rt in zip(todo, round_trips(codec, [(refs[i].samples, refs[i].rate) for i in todo])):
            unit = units[i][codec.name]
            refusal = rt if isinstance(rt, str) else _guarded(scorer.round_trip, refs[i], codec, unit, rt)
            refs[i] = refusal if isinstance(refusal, str) else refs[i]
    out = [ref if isinstance(ref, str) else [started[c.name] for c in codecs]
           for ref, (_, codecs), started in zip(refs, batch, units)]
    work = [(ref, ordered) for ref, ordered in zip(refs, out) if isinstance(ref, Reference)]
    if isinstance(_guarded(scorer.run_models, work), str):  # someone's refusal: each utterance alone, as locally
        refusals = {id(ordered): _guarded(scorer.run_models, [(ref, ordered)]) for ref, ordered in work}
        out = [refusals.get(id(started)) or started for started in out]
    return out


def _reference(scorer: Scorer, utt: Utterance) -> Reference | str:
    """The utterance's audio loaded for its units, or why it cannot be read."""
    loaded = _guarded(utt.load)
    return loaded if isinstance(loaded, str) else scorer.reference(utt, loaded.samples, loaded.sample_rate)


def _guarded(step: Callable[..., T], *args) -> T | str:
    """What `step(*args)` gives, or the refusal (UserError) it met, which skips the utterance as the local engine
    does."""
    try:
        return step(*args)
    except UserError as exc:
        return str(exc)
