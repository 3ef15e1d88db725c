"""One result row of a run folder (one utterance through one codec): the schema of rows.jsonl.

A row holds the utterance (id, language, speaker, duration, reference audio, transcript), the codec's round trip
(payload, bitrate, real-time factor, times), the sanity findings, what each metric was fed and at which rate, the
metric values and the reasons of those that are missing, the ASR transcripts and error counts, the decoded audio
the run kept, and whether the row came whole from the cache. Its JSON form is a rows.jsonl line; a field that is
None is left out of it (a row without ASR has no transcripts, a row built from the cache no `seconds`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass(kw_only=True)
class Row:
    """One (utterance, codec) result, in rows.jsonl's key order."""

    utt_id: str
    lang: str = ""
    speaker: str = ""
    duration: float = 0.0  # seconds of the reference
    reference_audio: str = ""  # the reference's path, as the input named it
    text: str = ""  # the reference transcript ("" when there is none)
    codec: str
    nominal_bitrate: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)  # the values that could be computed
    missing: dict[str, str] = field(default_factory=dict)  # the metrics that could not, and why
    cached: bool = False  # built entirely from the cache
    payload_bytes: int | None = None
    measured_bitrate: float | None = None
    rtf: float | None = None
    encode_seconds: float | None = None
    decode_seconds: float | None = None
    sanity: dict | None = None  # eval.sanity.Sanity.to_dict()
    fed: dict | None = None  # what each kind of metric saw (eval.pair.fed)
    rates: dict[str, int] | None = None  # the sample rate each metric ran at
    decoded_audio: str | None = None  # the kept decoded audio, relative to the run folder
    hyp_orig: str | None = None  # ASR of the original audio
    hyp: str | None = None  # ASR of the decoded audio
    asr_counts: dict[str, dict] | None = None  # edit counts per error rate (eval.asr.Errors.to_dict())
    seconds: float | None = None  # time this run spent on the row (absent when it came from the cache)

    @property
    def key(self) -> tuple[str, str]:
        """(utterance, codec): what a run folder holds one row of."""
        return self.utt_id, self.codec

    def to_json(self) -> dict:
        """The row as one rows.jsonl line holds it."""
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None}

    @classmethod
    def from_json(cls, data: object) -> Row | None:
        """The row a rows.jsonl line holds (None when it is not a row: no string utterance id and codec); keys
        the schema does not know are left out."""
        if not (isinstance(data, dict) and isinstance(data.get("utt_id"), str) and isinstance(data.get("codec"), str)):
            return None
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
