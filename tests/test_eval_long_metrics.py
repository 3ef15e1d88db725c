"""Metrics on long clips: PESQ scores a long clip in pieces cut at pauses (its C code holds at most 50
utterances and overruns its buffers beyond), and a clip up to one piece exactly as a whole file; pYIN tracks a long
clip in overlapping windows, and a clip up to one window exactly as a whole track."""

import numpy as np
import pytest

from codec.audio import load_audio
from codec.registry import get_codec
from eval import metrics
from eval_assets import utterances


def speech(seconds: float, sr: int = 16000) -> np.ndarray:
    """Bundled speech tiled to `seconds` (16 kHz)."""
    pieces = [load_audio(utt.audio_path).samples for utt in utterances(count=5)]
    return np.resize(np.concatenate(pieces), round(seconds * sr)).astype(np.float32)


def test_pesq_of_a_clip_up_to_one_piece_is_the_whole_file_value():
    from pesq import pesq

    ref = speech(12.0)
    deg = get_codec("opus-6k").roundtrip(ref, 16000).audio
    assert metrics._pesq_pieces(ref, 16000) == [(0, len(ref))]
    assert metrics.pesq_wb(ref, deg, 16000) == float(pesq(16000, ref.astype(np.float64), deg.astype(np.float64), "wb"))


def test_pesq_of_a_long_clip_is_the_duration_weighted_mean_of_pieces_cut_at_pauses():
    """75 s of speech (about 40 utterances; ten minutes hold hundreds): scored in pieces of 15 to 30 s, each cut in a
    pause, the value is their duration-weighted mean and lies in PESQ's range."""
    sr = 16000
    ref = speech(75.0)
    deg = get_codec("opus-6k").roundtrip(ref, sr).audio
    pieces = metrics._pesq_pieces(ref, sr)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(ref)
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
    assert all(metrics.PESQ_PIECE_S * sr / 2 <= end - start <= metrics.PESQ_PIECE_S * sr for start, end in pieces)
    clip_rms = np.sqrt(np.mean(ref.astype(np.float64) ** 2))
    for _, cut in pieces[:-1]:  # each cut is in a pause: its 100 ms are far quieter than the clip
        assert np.sqrt(np.mean(ref[cut - 800: cut + 800].astype(np.float64) ** 2)) < 0.1 * clip_rms
    value = metrics.pesq_wb(ref, deg, sr)
    each = [metrics.pesq_wb(ref[a:b], deg[a:b], sr) for a, b in pieces]
    assert value == pytest.approx(np.average(each, weights=[b - a for a, b in pieces]))
    assert 1.04 <= value <= 4.64


@pytest.mark.parametrize("name,which", [("mel_distance", 0), ("stft_distance", 1)])
def test_the_spectral_distances_computed_a_chunk_at_a_time_are_the_losses_on_the_whole_signal(monkeypatch, name, which):
    """Chunks of 16384 samples (five in the signal, each cut inside 2048-point frames' context) give the training
    loss's value on the whole 3 s signal: every frame is computed with its true neighbours."""
    import torch

    ref = speech(3.0, 22050).astype(np.float64)
    deg = get_codec("opus-6k").roundtrip(ref.astype(np.float32), 22050).audio.astype(np.float64)
    with torch.inference_mode():
        whole = float(metrics._nemo_losses()[which](torch.from_numpy(ref)[None], torch.from_numpy(deg)[None],
                                                    torch.tensor([len(ref)])))
    monkeypatch.setattr(metrics, "SPECTRAL_CHUNK", 2**14)
    monkeypatch.setattr(metrics, "_SPECTRAL", {})  # not the other distance's computation, kept from before
    assert metrics.compute(name, ref, deg, 22050) == pytest.approx(whole, rel=1e-10)


def test_a_pairs_two_spectral_distances_take_one_magnitude_spectrogram_per_signal_and_resolution(monkeypatch):
    import torch

    from codec.lfsc import spectral_losses

    ref = speech(3.0, 22050).astype(np.float64)
    deg = get_codec("opus-6k").roundtrip(ref.astype(np.float32), 22050).audio.astype(np.float64)
    with torch.inference_mode():
        whole = [float(loss(torch.from_numpy(ref)[None], torch.from_numpy(deg)[None], torch.tensor([len(ref)])))
                 for loss in metrics._nemo_losses()]
    calls = []
    magnitude = spectral_losses.magnitude
    monkeypatch.setattr(spectral_losses, "magnitude", lambda *args: calls.append(args[1:3]) or magnitude(*args))
    monkeypatch.setattr(metrics, "_SPECTRAL", {})
    values = [metrics.compute(name, ref, deg, 22050) for name in ("mel_distance", "stft_distance")]
    assert values == pytest.approx(whole, rel=1e-10)
    resolutions = [(n_fft, hop) for n_fft, hop, _ in metrics._nemo_losses()[0].resolutions]
    assert sorted(calls) == sorted(2 * resolutions)  # the reference's and the decoded audio's, once each


def whole_track(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """librosa's pYIN over all of `x`, with the pitch metrics' settings."""
    import librosa

    f0, voiced, _ = librosa.pyin(x, fmin=50.0, fmax=600.0, sr=16000, frame_length=1024, hop_length=160, resolution=0.2)
    return f0, voiced


def test_the_pitch_metrics_of_a_clip_up_to_one_window_are_those_of_the_whole_track():
    ref = speech(4.0).astype(np.float64)
    deg = get_codec("opus-6k").roundtrip(ref.astype(np.float32), 16000).audio.astype(np.float64)
    (f_ref, v_ref), (f_deg, v_deg) = whole_track(ref), whole_track(deg)
    both = v_ref & v_deg
    assert metrics.f0_rmse(ref, deg, 16000) == float(np.sqrt(np.mean((1200 * np.log2(f_deg[both] / f_ref[both])) ** 2)))
    assert metrics.f0_corr(ref, deg, 16000) == float(np.corrcoef(f_ref[both], f_deg[both])[0, 1])
    assert metrics.vuv_error(ref, deg, 16000) == float(np.mean(v_ref != v_deg))


def test_pitch_tracking_decodes_with_a_viterbi_that_leaves_the_gil_to_the_window():
    """As librosa builds it, pYIN's Viterbi holds the GIL for a whole window (about a second for 30 s), freezing the
    app's window while a clip's F0 is measured on a worker thread; eval.pitch_viterbi's, built with nogil, replaces it."""
    import librosa.sequence

    metrics.f0_rmse(speech(2.0), speech(2.0), 16000)
    assert librosa.sequence._viterbi.targetoptions.get("nogil") is True


def test_a_long_clip_is_pitch_tracked_in_windows_that_agree_with_the_whole_track(monkeypatch):
    """Windows of 4 s overlapping by 2 s on 14 s of speech: pYIN never sees more than a window, and the stitched
    track has the whole track's frames, with the same voicing and F0 on nearly all of them (a track stitched one
    frame off agrees on about 40 % of the F0s)."""
    import librosa

    x = speech(14.0).astype(np.float64)
    f_whole, v_whole = whole_track(x)
    seen, pyin = [], librosa.pyin
    monkeypatch.setattr(librosa, "pyin", lambda y, **kw: seen.append(len(y)) or pyin(y, **kw))
    monkeypatch.setattr(metrics, "PITCH_WINDOW_S", 4.0)
    monkeypatch.setattr(metrics, "PITCH_OVERLAP_S", 2.0)
    f0, voiced = metrics._windowed_pyin(x)
    assert len(seen) == 6 and max(seen) <= 4 * 16000
    assert len(f0) == len(f_whole) == 1 + len(x) // 160
    assert np.mean(voiced == v_whole) > 0.99
    both = voiced & v_whole
    assert np.count_nonzero(both) > 500 and np.mean(f0[both] == f_whole[both]) > 0.97


def test_the_apps_automatic_metrics_announce_each_metric_and_a_cancel_stops_before_the_next(qtbot, monkeypatch):
    """On a long clip each metric takes minutes: fast_metrics announces every one (DistillMOS of the decoded audio
    and of the original included) before computing it, and a cancel stops it once the running one is done,
    computing no further metric."""
    from eval import pair
    from workbench.clip_metrics import fast_metrics
    from workbench.workers import Cancelled, Task

    computed = []

    def stub(name, ref, deg, sr):
        computed.append(name)
        return 1.0

    monkeypatch.setattr(pair, "compute", stub)
    monkeypatch.setattr(metrics, "compute", stub)
    ref = speech(3.0)
    steps = len(metrics.FAST_METRICS) + 2
    seen = []
    whole = Task(fast_metrics, ref, ref, 16000)
    whole.progress.connect(lambda done, total, text: seen.append((done, total, text)))
    whole.run_here()
    assert [(done, total) for done, total, _ in seen] == [(i, steps) for i in range(steps)]
    assert computed == [*metrics.FAST_METRICS, "distill_mos", "distill_mos"]
    assert "of the original" in seen[-1][2]

    computed.clear()
    stopped = Task(fast_metrics, ref, ref, 16000)
    stopped.progress.connect(lambda done, total, text: done == 3 and stopped.cancel())  # while the 4th one runs
    with pytest.raises(Cancelled):
        stopped.run_here()
    assert computed == list(metrics.FAST_METRICS[:4])
