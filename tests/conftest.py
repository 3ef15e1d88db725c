"""Shared fixtures: a small random-weight LFSC checkpoint and real speech from the bundled set."""

from __future__ import annotations

import faulthandler
import os
from pathlib import Path

import numpy as np
import pytest


REPO = Path(__file__).resolve().parent.parent
NEMO_FIXTURE = REPO / "tests" / "fixtures" / "nemo"
ALSA_CONF = Path("/usr/share/alsa/alsa.conf")


@pytest.hookimpl(trylast=True)  # after pytest's own faulthandler set-up, which this narrows
def pytest_configure(config):
    """Send ALSA's default output to its null device before PortAudio first reads the configuration, so tests
    that play open real streams on machines without a sound card (and stay silent on machines with one). A crash
    prints only the thread that crashed ('<no Python frame>' when it ran no Python): CI keeps the start and the
    end of its log, and with every thread dumped the crashing one fell in the part left out."""
    if ALSA_CONF.exists():
        base = os.environ.get("ALSA_CONFIG_PATH") or str(ALSA_CONF)
        os.environ["ALSA_CONFIG_PATH"] = f"{base}:{REPO / 'tests' / 'fixtures' / 'alsa_null.conf'}"
    from _pytest.faulthandler import fault_handler_stderr_fd_key  # the terminal's stderr, kept before capture

    if fault_handler_stderr_fd_key in config.stash:
        faulthandler.enable(file=config.stash[fault_handler_stderr_fd_key], all_threads=False)


@pytest.fixture(autouse=True)
def _isolated_user_config(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg_config")))
    monkeypatch.delenv("LFSC_CHECKPOINT", raising=False)


def small_config():
    """A reduced-width LFSC with the released structure (fast on CPU)."""
    from codec.lfsc.model import DecoderConfig, EncoderConfig, LFSCConfig

    return LFSCConfig(encoder=EncoderConfig(base_channels=4), decoder=DecoderConfig(base_channels=32))


@pytest.fixture(scope="session")
def small_nemo(tmp_path_factory) -> Path:
    """A .nemo file holding a small random-weight LFSC."""
    import torch

    from codec.lfsc.checkpoint import save_nemo
    from codec.lfsc.model import LFSCModel

    torch.manual_seed(0)
    return save_nemo(tmp_path_factory.mktemp("ckpt") / "small.nemo", LFSCModel(small_config()))


@pytest.fixture(scope="session")
def speech() -> tuple[np.ndarray, int]:
    """A real English utterance from the bundled set (mono float32, its native rate)."""
    from codec.audio import load_audio
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    manifest = default_manifest()
    if not manifest.exists():
        pytest.skip("bundled speech (assets/speech) is not present")
    utt = next(u for u in load_manifest(manifest) if u.lang == "en")
    audio = load_audio(utt.audio_path)
    return audio.samples, audio.sample_rate


@pytest.fixture(scope="module")
def reference() -> dict:
    """NeMo 3.0.0's inputs and outputs on real speech (tests/fixtures/nemo/io.npz)."""
    if not (NEMO_FIXTURE / "io.npz").exists():
        pytest.skip("NeMo fixture not generated")
    return dict(np.load(NEMO_FIXTURE / "io.npz"))


@pytest.fixture
def one_thread():
    """torch on one thread for the test: the test machine's cores are shared, and more threads stall."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def bundled():
    """The bundled speech set's utterances (the test is skipped in a checkout without them)."""
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    if not default_manifest().exists():
        pytest.skip("the bundled speech (assets/speech) is not in this checkout")
    return load_manifest(default_manifest())


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    """A shown main window with its own settings file, config folder, cache and recordings folder; its questions
    answer yes unless a test says otherwise (a modal box would hang a test that failed midway when pytest-qt closes
    the window); its background work is cancelled and waited for at the end."""
    from PySide6.QtCore import QThreadPool

    from workbench.main_window import MainWindow
    from workbench.settings import Settings
    from workbench_waits import WAIT_MS

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("LFSC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LFSC_CHECKPOINT", raising=False)
    settings = Settings(tmp_path / "workbench.ini")
    settings.recordings_dir = tmp_path / "recordings"
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    monkeypatch.setattr(win.prompts, "confirm", lambda title, question: True)
    yield win
    win.tasks.cancel_all()
    QThreadPool.globalInstance().waitForDone(WAIT_MS)
