"""Audio I/O through real PortAudio streams: ALSA is pointed at a `file` PCM by an .asoundrc in a temporary HOME.

Each test runs its audio code in a fresh Python process, because PortAudio reads the ALSA configuration once,
when sounddevice is first imported. Capture reads the raw S16 `infile`; playback is written to `file`.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

RATE = 16000
ROOT = Path(__file__).resolve().parent.parent

CHILD_PRELUDE = (  # faulthandler: a crash in the child prints its stack instead of a bare return code
    "import faulthandler, json, sys, time\nfaulthandler.enable()\nimport numpy as np\nfrom workbench import audio_io\n"
)
ASOUNDRC = """
pcm.!default {{
  type plug
  slave {{ pcm "capture_file"; format S16_LE; rate {rate}; channels 1 }}
}}
pcm.capture_file {{
  type file
  slave.pcm "null"
  file "{out}"
  infile "{inp}"
  format "raw"
}}
"""


def run_with_alsa_files(home: Path, code: str, infile: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
    """Run `code` in a child process whose ALSA default device is the file PCM; return its JSON and the played file."""
    out, inp = home / "played.raw", home / "capture.raw"
    (home / ".asoundrc").write_text(ASOUNDRC.format(rate=RATE, out=out, inp=inp))
    to_int16(infile if infile is not None else np.zeros(RATE, np.float32)).tofile(inp)
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("ALSA_CONFIG_PATH", None)
    script = CHILD_PRELUDE + textwrap.dedent(code)
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          cwd=home)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    played = np.fromfile(out, "<i2").astype(np.float32) / 32768 if out.exists() else np.zeros(0, np.float32)
    return json.loads(proc.stdout.strip().splitlines()[-1]), played


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, -1, 32767 / 32768) * 32768).astype("<i2")


@pytest.fixture
def speech() -> np.ndarray:
    """The first bundled utterance at 16 kHz, quantised to 16 bits as the file PCM stores it."""
    from codec.audio import load_audio
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    if not default_manifest().exists():
        pytest.skip("the bundled speech (assets/speech) is not in this checkout")
    x = load_audio(load_manifest(default_manifest())[0].audio_path, sample_rate=RATE).samples
    return to_int16(x).astype(np.float32) / 32768


def test_recording_reads_the_speech_fed_to_the_input_and_meters_its_level(tmp_path, speech):
    n = len(speech) // 8  # overruns consume the input faster than the take grows; stay well inside it
    result, _ = run_with_alsa_files(tmp_path, f"""
        rec = audio_io.Recorder(sample_rate={RATE}, blocksize=1024)
        rec.start()
        while rec.seconds < {n / RATE}:
            time.sleep(0.001)
        take = rec.stop()
        np.save("take.npy", take)
        print(json.dumps({{"frames": len(take), "level": rec.level_db}}))
    """, infile=speech)
    take = np.load(tmp_path / "take.npy")
    assert result["frames"] >= n and len(take) % 1024 == 0
    # The file PCM is not paced, so PortAudio overruns and drops whole periods: the take is the input's samples,
    # exact, in pieces that follow each other in the input's order.
    np.testing.assert_array_equal(take[:256], speech[:256])
    where = {tuple(w): i for i, w in reversed(list(enumerate(np.lib.stride_tricks.sliding_window_view(speech, 8))))}
    offsets = []
    for i in range(0, n - 8, 256):
        probe = take[i:i + 8]
        if np.abs(probe).max() < 0.02:
            continue  # near-silent probes are not unique enough to locate
        start = where.get(tuple(probe))
        assert start is not None, f"recorded samples {i}..{i + 8} are not in the input"
        offsets.append(start)
    assert len(offsets) > 5 and offsets == sorted(offsets)
    # the meter shows the RMS and peak of the last block the device delivered
    last = take[-1024:].astype(np.float64)
    expected = [20 * np.log10(max(v, 1e-6)) for v in (np.sqrt(np.mean(last**2)), np.abs(last).max())]
    np.testing.assert_allclose(result["level"], expected, atol=0.01)


def test_playback_lands_in_the_file_and_the_ab_switch_is_gapless_at_the_same_position(tmp_path):
    n = RATE * 240  # the file PCM is not paced: a long signal leaves time to switch while it plays
    rng = np.random.default_rng(0)
    a = to_int16(0.2 * rng.standard_normal(n)).astype(np.float32) / 32768
    b = to_int16(0.2 * rng.standard_normal(n)).astype(np.float32) / 32768
    a[0] = 0.5  # a known first sample marks where playback starts in the file
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    result, played = run_with_alsa_files(tmp_path, f"""
        player = audio_io.Player()
        player.set_sources({{"original": np.load("a.npy"), "decoded": np.load("b.npy")}}, {RATE})
        player.play()
        while player.position == 0:
            time.sleep(0.0005)
        player.select("decoded")
        switched = player.position
        while player.playing:
            time.sleep(0.01)
        player.close()
        print(json.dumps({{"switched_at": switched}}))
    """)
    start = int(np.flatnonzero(played)[0])
    assert played[start] == pytest.approx(0.5)
    heard = played[start:start + n]
    assert len(heard) == n and not played[start + n:].any()  # every sample once, nothing after the end
    k = int(np.flatnonzero(heard != a)[0])  # first sample that is not A
    assert 0 < k < n
    np.testing.assert_array_equal(heard[:k], a[:k])
    np.testing.assert_array_equal(heard[k:], b[k:])  # B continues at the very next sample: no gap, no repeat
    assert k >= result["switched_at"] * RATE  # the switch took effect at or after the position it was made


def test_an_output_device_that_cannot_open_is_a_user_error_saying_what_to_do(tmp_path):
    (tmp_path / "x").mkdir()
    home = tmp_path / "x"
    code = """
        from codec.errors import UserError
        player = audio_io.Player()
        player.set_sources({"original": np.zeros(1000, np.float32)}, 16000)
        try:
            player.play()
            print(json.dumps({"error": ""}))
        except UserError as exc:
            print(json.dumps({"error": str(exc)}))
    """
    (home / ".asoundrc").write_text('pcm.!default { type hw card 17 }\nctl.!default { type hw card 17 }\n')
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}
    script = "import json\nimport numpy as np\nfrom workbench import audio_io\n" + textwrap.dedent(code)
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    error = json.loads(proc.stdout.strip().splitlines()[-1])["error"]
    assert "audio output device" in error and ("pick" in error or "connect" in error)


def test_mic_round_trip_records_codes_and_plays_back_the_take_with_its_latency(tmp_path, speech):
    speech = speech.copy()
    speech[0] = 0.5  # marks where the take starts in the played file
    result, played = run_with_alsa_files(tmp_path, """
        import os
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from workbench.app import shut_down
        from workbench.main_window import MainWindow
        from workbench.settings import Settings
        settings = Settings("workbench.ini")
        settings.recordings_dir = "recordings"
        window = MainWindow(settings)
        window.codec_bar.select_codec("identity")

        def stop_after_half_a_second():
            dialog = QApplication.activeModalWidget()
            if dialog is None or dialog.recorder is None or dialog.recorder.seconds < 0.5:
                QTimer.singleShot(5, stop_after_half_a_second)
                return
            dialog.stop_button.click()

        QTimer.singleShot(0, stop_after_half_a_second)
        window.recording.mic_roundtrip()  # the record dialog runs until the timer presses stop
        while window.model.latency is None:
            app.processEvents()
            time.sleep(0.005)
        while window.playback.player.playing:
            time.sleep(0.01)
        np.save("take.npy", window.model.clip.samples)
        latency = window.model.latency
        print(json.dumps({"path": str(window.model.clip.path),
                          "selected_b": window.playback.player.selected == window.model.pair[1] != "",
                          "latency": [latency.input, latency.encode, latency.decode, latency.output,
                                      latency.stop_to_sound], "rows": window.metrics.value("stop to sound")}))
        shut_down(window)  # what lfsc-workbench does when its window closes
    """, infile=speech)
    take = np.load(tmp_path / "take.npy")
    assert len(take) >= RATE // 2 and take[0] == 0.5
    np.testing.assert_array_equal(take[:256], speech[:256])  # the take is the speech fed to the input
    assert Path(tmp_path / result["path"]).is_file()  # saved the moment recording stopped
    assert result["selected_b"]  # the decoded take (signal B) is what plays
    start = int(np.flatnonzero(played == 0.5)[0])
    np.testing.assert_array_equal(played[start:start + len(take)], take)  # identity codec: heard = recorded
    assert all(v >= 0 for v in result["latency"]) and result["latency"][4] > 0
    assert result["rows"].endswith(" ms")
