"""Live mode: the microphone, under the chosen input condition, coded live to the output, A/B against what the codec
heard, aligned; the session kept.

Most tests replace PortAudio's duplex stream by one that only holds the callback, and feed the callback
themselves (so what is heard is exact); one runs a real session on ALSA's file devices (tests/test_audio_io.py).
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from codec.streaming import CodecStream
from workbench import live_audio

RATE = 16000
BLOCK = 256
FINE = SimpleNamespace(input_overflow=False, output_underflow=False)


class NegatingDelay(CodecStream):
    """A codec stream with lookahead: gives back -x, aligned with x, holding back `latency` samples."""

    def __init__(self, latency: int):
        super().__init__()
        self.latency, self.sample_rate, self._held = latency, RATE, np.zeros(0, np.float32)

    def _take(self, samples):
        self._held = np.concatenate([self._held, -samples])
        n = max(0, len(self._held) - self.latency)
        out, self._held = self._held[:n], self._held[n:]
        return out

    def _finish(self):
        return self._held


class FakeDuplex:
    """Stands for PortAudio's duplex stream: keeps the callback; the test calls it."""

    latency = (0.01, 0.02)

    def __init__(self, callback, **kwargs):
        self.callback, self.kwargs = callback, kwargs

    def start(self):
        pass

    def abort(self):
        pass

    def close(self):
        pass


@pytest.fixture
def fake_audio(monkeypatch):
    """Duplex streams opened are fakes whose callback the test drives."""
    monkeypatch.setattr(live_audio, "sounddevice_module", lambda: SimpleNamespace(Stream=FakeDuplex,
                                                                          PortAudioError=RuntimeError))


def speechlike(n: int) -> np.ndarray:
    return (0.1 * np.random.default_rng(1).standard_normal(n)).astype(np.float32)


def drive(session, x: np.ndarray, toggle_at: int | None = None, pace: float = 0.0) -> np.ndarray:
    """Feed `x` to the session's callback block by block; what the output device was given."""
    heard = []
    for i in range(0, len(x), BLOCK):
        if i == toggle_at:
            session.coded = not session.coded
        out = np.zeros((BLOCK, 1), np.float32)
        session.callback(x[i:i + BLOCK, None], out, BLOCK, None, FINE)
        heard.append(out[:, 0].copy())
        if pace:
            time.sleep(pace)  # real time: the worker gets one block's duration per block
        else:
            session.wait_coded()
    return np.concatenate(heard)


def test_the_toggle_switches_between_codec_and_dry_at_the_same_instant_delayed_by_the_stream_latency(fake_audio):
    x = speechlike(64 * BLOCK)
    session = live_audio.LiveSession(NegatingDelay(latency=300), blocksize=BLOCK)
    session.start()
    heard = drive(session, x, toggle_at=40 * BLOCK)
    take = session.stop()
    delay = int(np.flatnonzero(heard)[0])
    assert delay >= 300  # nothing is heard before the codec's lookahead has come in
    k = 40 * BLOCK
    np.testing.assert_array_equal(heard[delay:k], -x[: k - delay])  # the codec (here -x) until the toggle
    np.testing.assert_array_equal(heard[k:], x[k - delay : len(x) - delay])  # then the dry mic, same delay
    assert session.underruns == 0 and session.overruns == 0
    np.testing.assert_array_equal(take.dry, x)  # the recordings: aligned sample for sample, equally long
    np.testing.assert_array_equal(take.heard, x)  # no input condition: the codec heard the dry microphone
    np.testing.assert_array_equal(take.coded, -x)


def test_under_a_condition_the_codec_hears_it_and_the_toggle_plays_what_it_heard_at_the_same_instant(fake_audio):
    from codec.condition_streams import ConditionStream
    from codec.conditions import parse

    x = speechlike(96 * BLOCK)
    conditions = ConditionStream([parse("tel")], RATE)
    session = live_audio.LiveSession(NegatingDelay(latency=300), blocksize=BLOCK, conditions=conditions)
    session.start()
    heard = drive(session, x, toggle_at=80 * BLOCK)
    stats = session.stats()
    take = session.stop()
    lag = conditions.delay  # the band's lookahead: what the codec hears is the band of the microphone, this late
    assert stats.condition == lag / RATE and stats.measured >= stats.condition + 300 / RATE
    band = parse("tel").apply(x, RATE)
    np.testing.assert_allclose(take.heard[lag:], band[: len(x) - lag], atol=1e-5)
    np.testing.assert_array_equal(take.coded, -take.heard)  # the codec coded what it heard
    np.testing.assert_array_equal(take.dry[lag:], x[: len(x) - lag])  # the microphone, aligned with both
    delay, k = int(np.flatnonzero(heard)[0]), 80 * BLOCK  # the band's run-in is silence: starts with its delay
    start = delay - int(np.flatnonzero(take.heard)[0])  # the codec's and the jitter buffer's delay
    np.testing.assert_array_equal(heard[delay:k], take.coded[delay - start : k - start])  # the codec, then
    np.testing.assert_array_equal(heard[k:], take.heard[k - start : len(x) - start])  # what it heard, same delay


def test_the_underrun_counter_counts_when_the_codec_cannot_keep_up(fake_audio, monkeypatch):
    stream = NegatingDelay(latency=0)
    push = stream.push

    def slow_push(samples):
        time.sleep(4 * BLOCK / RATE)  # four times slower than real time
        return push(samples)

    monkeypatch.setattr(stream, "push", slow_push)
    session = live_audio.LiveSession(stream, blocksize=BLOCK)
    session.start()
    drive(session, speechlike(60 * BLOCK), pace=BLOCK / RATE)
    stats = session.stats()
    session.stop()
    assert stats.underruns > 0 and stats.compute_worst >= 4 * BLOCK / RATE
    assert stats.behind > 0 and stats.cannot_keep_up


def test_a_session_that_keeps_up_reports_no_underruns_and_its_latency_breakdown(fake_audio):
    session = live_audio.LiveSession(NegatingDelay(latency=320), blocksize=BLOCK)
    session.start()
    drive(session, speechlike(20 * BLOCK))
    stats = session.stats()
    session.stop()
    assert (stats.underruns, stats.overruns, stats.cannot_keep_up) == (0, 0, False)
    assert (stats.input_latency, stats.output_latency) == FakeDuplex.latency
    assert stats.lookahead == 320 / RATE and 0 < stats.compute_mean <= stats.compute_worst
    assert stats.buffered >= 320 / RATE  # the lookahead is held back, so at least that much waits


class Bursts(NegatingDelay):
    """Gives its output a burst every `every` blocks (all it holds), as LFSC gives a hop of frames per step."""

    def __init__(self, every: int):
        super().__init__(latency=0)
        self.every, self._blocks = every, 0

    def _take(self, samples):
        self._held = np.concatenate([self._held, -samples])
        self._blocks += 1
        if self._blocks % self.every:
            return np.zeros(0, np.float32)
        out, self._held = self._held, np.zeros(0, np.float32)
        return out


class Stalls(NegatingDelay):
    """Gives its output up to two blocks a push, but nothing for the last `stall` pushes of every `every` (a slow
    step now and then: compute jitter), catching up after."""

    def __init__(self, every: int, stall: int):
        super().__init__(latency=0)
        self.every, self.stall, self._blocks = every, stall, 0

    def _take(self, samples):
        self._held = np.concatenate([self._held, -samples])
        self._blocks += 1
        if self._blocks % self.every >= self.every - self.stall:
            return np.zeros(0, np.float32)
        out, self._held = self._held[: 2 * len(samples)], self._held[2 * len(samples):]
        return out


def test_the_jitter_buffer_grows_after_underruns_until_stalling_output_plays_without_them(fake_audio):
    session = live_audio.LiveSession(Stalls(every=40, stall=10), blocksize=BLOCK)
    session.start()
    x = speechlike(600 * BLOCK)
    drive(session, x[: 300 * BLOCK])
    early = session.stats()
    heard = drive(session, x[300 * BLOCK:])
    late = session.stats()
    session.stop()
    assert early.underruns > 0 and early.jitter_buffer > 4 * BLOCK / RATE  # it stuttered, then grew
    assert late.underruns == early.underruns  # settled: no underrun in the second half
    assert late.jitter_buffer <= live_audio.MAX_JITTER_BUFFER_SECONDS
    assert np.count_nonzero(heard) == len(heard)  # and nothing but the coded signal was played there


def test_steady_bursts_play_without_an_underrun_from_the_start(fake_audio):
    """A codec whose output comes a burst at a time (LFSC: a hop of frames per step) on time: the buffer fills with
    a whole burst and two blocks before output starts, so it never runs dry."""
    session = live_audio.LiveSession(Bursts(8), blocksize=BLOCK)
    session.start()
    drive(session, speechlike(200 * BLOCK))
    stats = session.stats()
    session.stop()
    assert stats.underruns == 0 and stats.jitter_buffer == (8 + 2) * BLOCK / RATE


# --- the controller --------------------------------------------------------------------------------------------


@pytest.fixture
def live(qtbot, tmp_path, fake_audio, monkeypatch):
    """A live controller over a main window's clips, codecs and prompts (fake duplex device)."""
    from workbench.main_window import MainWindow
    from workbench.settings import Settings

    settings = Settings(tmp_path / "workbench.ini")
    settings.recordings_dir = tmp_path / "recordings"
    settings.record_rate = RATE
    window = MainWindow(settings)
    qtbot.addWidget(window)
    monkeypatch.setattr(window.prompts, "show_error", lambda title, text: window.prompts.messages.append(text))
    return window


def test_a_codec_that_cannot_stream_is_refused_in_one_line_and_no_session_starts(live):
    live.codec_bar.select_codec("lowpass-3.5k")
    assert not live.live.start()
    assert not live.live.running
    assert live.prompts.messages[-1] == "lowpass-3.5k cannot code live: it has no stream"


def test_a_model_codec_loads_on_a_worker_and_the_session_starts_when_it_is_ready(live, qtbot, monkeypatch):
    from pathlib import Path

    from workbench_waits import WAIT_MS

    monkeypatch.setenv("LFSC_CHECKPOINT", str(Path(__file__).parent / "fixtures" / "nemo" / "lfsc_small.nemo"))
    live.codecs.refresh()
    live.codec_bar.select_codec("lfsc")
    assert not live.live.start()  # not loaded yet: the window stays live while it loads
    assert not live.live.running and not live.prompts.messages
    with qtbot.waitSignal(live.live.running_changed, timeout=WAIT_MS):
        pass  # the worker built the model and started the session
    assert live.live.running and live.live.codec_name == "lfsc"
    live.live.stop()


def test_a_kept_session_is_saved_aligned_never_over_a_file_and_opens_in_the_compare_view(live, tmp_path,
                                                                                          monkeypatch):
    from datetime import datetime

    from codec.audio import load_audio
    from workbench.controllers import live as live_controller

    moment = datetime(2026, 1, 2, 3, 4, 5)  # every session ends in the same second
    monkeypatch.setattr(live_controller, "datetime", SimpleNamespace(now=lambda: moment))
    live.codec_bar.select_codec("identity")
    folder = tmp_path / "kept"
    folder.mkdir()
    mine = folder / "live-20260102-030405-dry.wav"
    mine.write_bytes(b"the user's file")
    x = speechlike(30 * BLOCK)
    written = []
    for _ in range(2):  # two sessions kept in the same second: the second gets other names
        assert live.live.start()
        live.live.toggle()  # what is heard does not change what is kept
        drive(live.live.session, x)
        written.append(live.live.stop(folder))
    first, second = written
    assert len({*first, *second, mine}) == 5 and all(p.parent == folder for p in (*first, *second))
    assert mine.read_bytes() == b"the user's file"
    dry, coded = (load_audio(p).samples for p in first)
    assert len(dry) == len(coded) == len(x)
    np.testing.assert_allclose(dry, x, atol=1e-4)  # 16-bit WAV
    np.testing.assert_array_equal(dry, coded)  # identity: the coded take is the dry take, sample for sample
    assert live.model.clip.path == second[0] and live.model.compared.label == "identity live"
    np.testing.assert_allclose(live.model.decoded, coded, atol=1e-4)  # the last session, as kept


def test_a_condition_typed_wrong_is_refused_in_one_line_before_any_model_loads(live):
    live.codec_bar.select_codec("identity")
    live.codec_bar.set_condition("white99")
    assert not live.live.start() and not live.live.running
    assert live.prompts.messages[-1] == "white99: white takes -20 to 60 dB SNR, such as white10"


def test_a_session_under_a_condition_says_what_is_heard_and_keeps_what_the_codec_heard(live, tmp_path):
    from codec.audio import load_audio

    live.codec_bar.select_codec("identity")
    live.codec_bar.set_condition("white10")
    said = []
    live.live.heard_changed.connect(said.append)
    assert live.live.start() and live.live.codec_name == "identity@white10"
    live.live.toggle()
    assert said == ["the codec (identity@white10)", "what the codec hears (white noise at 10 dB SNR)"]
    assert live.live_view.heard.text() == "hearing: what the codec hears (white noise at 10 dB SNR) (L)"
    x = speechlike(60 * BLOCK)
    drive(live.live.session, x)
    paths = live.live.stop(tmp_path / "kept")
    assert [p.name.split("-", 3)[-1] for p in paths] == ["dry.wav", "dry@white10.wav", "identity@white10.wav"]
    dry, heard, coded = (load_audio(p).samples.astype(np.float64) for p in paths)
    np.testing.assert_allclose(dry, x, atol=1e-4)
    np.testing.assert_array_equal(coded, heard)  # identity codes exactly what it heard: the noisy microphone
    assert np.std(heard - dry) > 0.01  # with noise in it (its level: tests/test_condition_streams.py)
    assert live.model.compared.label == "identity@white10 live"


def test_a_live_session_through_identity_on_real_devices_plays_the_microphone(tmp_path):
    from test_audio_io import run_with_alsa_files, to_int16

    x = to_int16(speechlike(20 * RATE)).astype(np.float32) / 32768
    result, played = run_with_alsa_files(tmp_path, f"""
        from codec.registry import get_codec
        from workbench.live_audio import LiveSession
        session = LiveSession(get_codec("identity").stream(sample_rate={RATE}), blocksize={BLOCK})
        session.start()
        while session.stream.pushed < {RATE}:
            time.sleep(0.001)
        stats = session.stats()
        take = session.stop()
        np.save("dry.npy", take.dry)
        np.save("coded.npy", take.coded)
        print(json.dumps({{"input": stats.input_latency, "output": stats.output_latency}}))
    """, infile=x)
    dry, coded = np.load(tmp_path / "dry.npy"), np.load(tmp_path / "coded.npy")
    assert len(dry) >= RATE and np.array_equal(dry, coded)
    assert result["input"] > 0 and result["output"] > 0  # PortAudio's buffers, as it reports them
    start = int(np.flatnonzero(played)[0])
    heard = played[start:]
    assert len(heard) > BLOCK
    np.testing.assert_array_equal(heard[: len(dry)], dry[: len(heard)])  # what was heard is the microphone


def test_a_live_session_under_the_telephone_band_on_real_devices_codes_the_band_of_the_microphone(tmp_path):
    """What is played is checked with the fake duplex above: the file PCM is not paced, so the worker cannot keep
    the output fed, and it writes what it captures into the played file too."""
    from test_audio_io import run_with_alsa_files, to_int16

    from codec.conditions import parse

    x = to_int16(speechlike(20 * RATE)).astype(np.float32) / 32768
    result, _ = run_with_alsa_files(tmp_path, f"""
        from codec.condition_streams import ConditionStream
        from codec.conditions import parse
        from codec.registry import get_codec
        from workbench.live_audio import LiveSession
        session = LiveSession(get_codec("identity").stream(sample_rate={RATE}), blocksize={BLOCK},
                              conditions=ConditionStream([parse("tel")], {RATE}))
        session.start()
        while session.stream.pushed < 2 * {RATE}:
            time.sleep(0.001)
        stats = session.stats()
        take = session.stop()
        np.save("dry.npy", take.dry)
        np.save("coded.npy", take.coded)
        print(json.dumps({{"condition": stats.condition}}))
    """, infile=x)
    dry, coded = np.load(tmp_path / "dry.npy"), np.load(tmp_path / "coded.npy")
    lag = round(result["condition"] * RATE)  # the latency the session reported for its input condition
    assert lag == round(0.5 * RATE) and len(coded) >= 2 * RATE
    microphone = dry[lag:]  # the microphone as received, less its last `lag` samples (still in the band's lookahead)
    band = parse("tel").apply(microphone, RATE)[: len(microphone) - lag]  # the rest: as long as the band had input
    np.testing.assert_allclose(coded[lag : lag + len(band)], band, atol=1e-5)
