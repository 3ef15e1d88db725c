"""CER/WER through ASR: faster-whisper on the bundled multilingual Whisper-base model (or any local CT2 model).

Decoding is pinned for reproducibility: forced language, greedy (beam_size=1, temperature 0 with no fallback),
no conditioning on previous text, no VAD. The model is loaded once per process and per folder.
Error rates come from jiwer edit operations kept as counts, so corpus-level rates are exact sums.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from codec.audio import resample
from codec.errors import UserError
from codec.hashing import file_sha256
from eval import textnorm

ASR_RATE = 16000
BATCH = 32  # 30 s windows per batched model call: what bounds its memory (features and encoder states)
DECODING = "greedy (beam_size=1, temperature=0), forced language, condition_on_previous_text=False, no VAD"
_MODELS: dict[tuple[str, str], object] = {}
_active_dir: Path | None = None


def set_model_dir(model_dir: str | Path | None) -> None:
    """Use this CTranslate2 Whisper folder for `transcribe` (None: the bundled Whisper-base)."""
    global _active_dir
    if model_dir is not None:
        model_dir = Path(model_dir)
        if not (model_dir / "model.bin").is_file():
            raise UserError(f"{model_dir}: not a CTranslate2 Whisper model folder (no model.bin); convert it with ct2-transformers-converter")
    _active_dir = model_dir


def model_dir() -> Path:
    """Folder of the ASR model in use."""
    if _active_dir is not None:
        return _active_dir
    from codec.whisper_model import bundled_model_dir

    try:
        return bundled_model_dir()
    except RuntimeError as exc:
        raise UserError(str(exc)) from None


def device() -> tuple[str, str]:
    """(device, compute_type): float16 on CUDA when CTranslate2 sees a GPU, else int8 on the CPU."""
    import ctranslate2

    return ("cuda", "float16") if ctranslate2.get_cuda_device_count() > 0 else ("cpu", "int8")


def _model():
    folder = model_dir()
    dev, compute_type = device()
    key = (str(folder), dev)
    if key not in _MODELS:
        from faster_whisper import WhisperModel

        _MODELS[key] = WhisperModel(str(folder), device=dev, compute_type=compute_type, cpu_threads=os.cpu_count() or 1)
    return _MODELS[key]


def model_sha256() -> str:
    """sha256 of the model.bin in use (the bundled model's is known, others are hashed once per process)."""
    from codec.whisper_model import MODEL_SHA256

    return MODEL_SHA256 if _active_dir is None else file_sha256(model_dir() / "model.bin")


def model_id() -> str:
    """Identity of the ASR set-up for caches and reports: model sha256 prefix, compute type, decoding settings."""
    dev, compute_type = device()
    # batched decoding gives the one-by-one text on the CPU (tests/test_eval_asr.py); float16 on the GPU is not
    # proven to, so its batched transcripts get their own cache entries
    batched = ":batched" if dev == "cuda" else ""
    return f"whisper-ct2:{model_sha256()[:16]}:{compute_type}{batched}:{DECODING}"


def transcribe(audio: np.ndarray, sr: int, lang: str) -> str:
    """Transcribe mono audio in language `lang` (ISO 639-1, e.g. 'en', 'fr'); returns the raw text."""
    x = resample(np.asarray(audio, dtype=np.float32), sr, ASR_RATE)
    segments, _ = _model().transcribe(
        x,
        language=lang.split("-")[0].lower(),
        beam_size=1,
        temperature=0.0,
        condition_on_previous_text=False,
        vad_filter=False,
    )
    return " ".join(segment.text.strip() for segment in segments).strip()


def transcribe_many(audios: list[np.ndarray], sr: int, lang: str) -> list[str]:
    """`transcribe` of several clips in one language, the clips of up to 30 s in batched model calls of `BATCH`.

    This replays what faster-whisper's transcribe does for its first 30 s window (same features, prompt and
    generation options; the no-speech skip and the timestamp split), so the text is the same; a clip that is
    longer, or whose first window leaves audio for a second one, goes through `transcribe`.
    """
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_ctranslate2_storage, get_suppressed_tokens

    model = _model()
    window = model.feature_extractor.nb_max_frames
    clips = [resample(np.asarray(a, dtype=np.float32), sr, ASR_RATE) for a in audios]
    features = [model.feature_extractor(x) for x in clips]
    frames = [f.shape[-1] - 1 for f in features]  # faster-whisper drops the last frame
    texts: list[str | None] = [None] * len(clips)
    whole = [i for i, n in enumerate(frames) if 0 < n <= window]
    code = lang.split("-")[0].lower() if model.model.is_multilingual else "en"
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=code)
    prompt = model.get_prompt(tokenizer, [], without_timestamps=False)
    for start in range(0, len(whole), BATCH):
        batch = whole[start: start + BATCH]
        stacked = np.stack([pad_or_trim(features[i][:, : frames[i]]) for i in batch])
        results = model.model.generate(
            model.model.encode(get_ctranslate2_storage(stacked)),
            [prompt] * len(batch),
            beam_size=1,
            patience=1,
            length_penalty=1,
            repetition_penalty=1,
            no_repeat_ngram_size=0,
            max_length=model.max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
            max_initial_timestamp_index=int(round(1.0 / model.time_precision)),
        )
        for i, result in zip(batch, results):
            texts[i] = _window_text(model, tokenizer, result, frames[i])
    return [text if text is not None else transcribe(clips[i], ASR_RATE, lang) for i, text in enumerate(texts)]


def _window_text(model, tokenizer, result, frames: int) -> str | None:
    """Text of a clip decoded in one window, as faster-whisper's generate_segments makes it (None: needs more)."""
    tokens = result.sequences_ids[0]
    avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
    if result.no_speech_prob > 0.6 and not avg_logprob > -1.0:  # transcribe's no_speech/log_prob thresholds
        return ""
    segments, seek, _ = model._split_segments_by_timestamps(
        tokenizer=tokenizer,
        tokens=tokens,
        time_offset=0.0,
        segment_size=frames,
        segment_duration=frames * model.feature_extractor.time_per_frame,
        seek=0,
    )
    if seek < frames:  # an unfinished segment: transcribe would decode a second window from `seek`
        return None
    texts = [tokenizer.decode(s["tokens"]) for s in segments if s["start"] != s["end"]]
    return " ".join(t.strip() for t in texts if t.strip()).strip()


@dataclass
class Errors:
    """Edit operations between a normalised reference and hypothesis (characters or words)."""

    hits: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def reference_length(self) -> int:
        """Number of reference units."""
        return self.hits + self.substitutions + self.deletions

    @property
    def rate(self) -> float:
        """(S + D + I) / N."""
        return (self.substitutions + self.deletions + self.insertions) / self.reference_length

    def to_dict(self) -> dict:
        """Plain dict for result rows."""
        return asdict(self)


def char_errors(ref_text: str, hyp_text: str, lang: str) -> Errors:
    """Character edit operations after normalisation; raises ValueError on an empty normalised reference."""
    return _errors(textnorm.for_cer(ref_text, lang), textnorm.for_cer(hyp_text, lang), words=False)


def word_errors(ref_text: str, hyp_text: str, lang: str) -> Errors:
    """Word edit operations after normalisation; raises ValueError for unsegmented scripts or an empty reference."""
    if not textnorm.has_words(lang):
        raise ValueError(f"WER is not defined for unsegmented script language {lang!r}; use CER")
    return _errors(textnorm.normalize(ref_text, lang), textnorm.normalize(hyp_text, lang), words=True)


def _errors(ref: str, hyp: str, words: bool) -> Errors:
    import jiwer

    if not ref:
        raise ValueError("the reference transcript is empty after normalisation")
    if not hyp:  # jiwer refuses empty hypotheses; everything was deleted
        n = len(ref.split()) if words else len(ref)
        return Errors(hits=0, substitutions=0, deletions=n, insertions=0)
    out = jiwer.process_words(ref, hyp) if words else jiwer.process_characters(ref, hyp)
    return Errors(out.hits, out.substitutions, out.deletions, out.insertions)


def cer(ref_text: str, hyp_text: str, lang: str) -> float:
    """Character error rate of one utterance after per-language normalisation."""
    return char_errors(ref_text, hyp_text, lang).rate


def wer(ref_text: str, hyp_text: str, lang: str) -> float:
    """Word error rate of one utterance after per-language normalisation."""
    return word_errors(ref_text, hyp_text, lang).rate
