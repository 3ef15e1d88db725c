"""What the app remembers between sessions (QSettings): devices, checkpoint, last codec, view options, recent files."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings

MAX_RECENT = 10


class Settings:
    """Typed access to the app's QSettings; pass `path` to keep them in an INI file (tests, portable use)."""

    def __init__(self, path: str | Path | None = None):
        if path is None:
            self._q = QSettings("lfsc-workbench", "workbench")
        else:
            self._q = QSettings(str(path), QSettings.Format.IniFormat)

    def _get(self, key: str, default, kind):
        value = self._q.value(key, default)
        if kind is bool and isinstance(value, str):  # INI files store booleans as text
            return value.lower() == "true"
        try:
            return kind(value)
        except (TypeError, ValueError):
            return default

    def _set(self, key: str, value) -> None:
        self._q.setValue(key, value)
        self._q.sync()

    @property
    def input_device(self) -> str:
        """Name of the chosen recording device ("" = system default)."""
        return self._get("audio/input_device", "", str)

    @input_device.setter
    def input_device(self, value: str) -> None:
        self._set("audio/input_device", value)

    @property
    def output_device(self) -> str:
        """Name of the chosen playback device ("" = system default)."""
        return self._get("audio/output_device", "", str)

    @output_device.setter
    def output_device(self, value: str) -> None:
        self._set("audio/output_device", value)

    @property
    def record_rate(self) -> int:
        """Sample rate for recordings."""
        return self._get("audio/record_rate", 16000, int)

    @record_rate.setter
    def record_rate(self, value: int) -> None:
        self._set("audio/record_rate", int(value))

    @property
    def checkpoint(self) -> str:
        """The LFSC .nemo chosen in the app ("" when none)."""
        return self._get("codec/checkpoint", "", str)

    @checkpoint.setter
    def checkpoint(self, value: str) -> None:
        self._set("codec/checkpoint", value)

    @property
    def last_codec(self) -> str:
        """The codec selected when the app was last closed."""
        return self._get("codec/last", "", str)

    @last_codec.setter
    def last_codec(self, value: str) -> None:
        self._set("codec/last", value)

    @property
    def compute_device(self) -> str:
        """Where codecs run: "auto" (GPU when present), "cpu" or "cuda"."""
        return self._get("codec/device", "auto", str)

    @compute_device.setter
    def compute_device(self, value: str) -> None:
        self._set("codec/device", value)

    @property
    def log_frequency(self) -> bool:
        """Spectrograms on a log-frequency axis."""
        return self._get("view/log_frequency", False, bool)

    @log_frequency.setter
    def log_frequency(self, value: bool) -> None:
        self._set("view/log_frequency", bool(value))

    @property
    def db_range(self) -> int:
        """Dynamic range of the spectrogram colour scale in dB."""
        return self._get("view/db_range", 80, int)

    @db_range.setter
    def db_range(self, value: int) -> None:
        self._set("view/db_range", int(value))

    @property
    def recent_files(self) -> list[str]:
        """Recently opened files that still exist, newest first."""
        value = self._q.value("files/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if Path(str(v)).is_file()]

    def clip_info(self, path: str | Path) -> tuple[str, str]:
        """The language and transcript the user set for the audio file at `path` ("" for what was not set)."""
        info = self._clip_infos().get(str(Path(path).resolve()), {})
        return str(info.get("lang", "")), str(info.get("transcript", ""))

    def set_clip_info(self, path: str | Path, lang: str, transcript: str) -> None:
        """Remember the language and transcript of the audio file at `path`."""
        infos = self._clip_infos()
        infos[str(Path(path).resolve())] = {"lang": lang, "transcript": transcript}
        self._set("clips/info", json.dumps(infos))

    def _clip_infos(self) -> dict:
        try:
            infos = json.loads(str(self._q.value("clips/info", "{}")))
        except ValueError:
            return {}
        return infos if isinstance(infos, dict) else {}

    def add_recent(self, path: str | Path) -> None:
        """Put `path` at the top of the recent files."""
        path = str(path)
        self._set("files/recent", ([path] + [p for p in self.recent_files if p != path])[:MAX_RECENT])

    @property
    def recordings_dir(self) -> Path:
        """Where takes are saved the moment recording stops, so no take is lost to a later failure."""
        from PySide6.QtCore import QStandardPaths

        chosen = self._get("files/recordings_dir", "", str)
        if chosen:
            return Path(chosen)
        base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        return Path(base or Path.home() / ".local/share/lfsc-workbench") / "recordings"

    @recordings_dir.setter
    def recordings_dir(self, value: str | Path) -> None:
        self._set("files/recordings_dir", str(value))

    @property
    def last_run_folder(self) -> str:
        """The output folder of the last eval run started from the app."""
        return self._get("files/last_run_folder", "", str)

    @last_run_folder.setter
    def last_run_folder(self, value: str) -> None:
        self._set("files/last_run_folder", value)

    @property
    def blind_results_dir(self) -> Path:
        """Where every finished blind test is saved the moment its last answer is given."""
        return self.recordings_dir.parent / "blind-tests"

    @property
    def geometry(self) -> bytes:
        """Saved main-window geometry."""
        return bytes(self._q.value("window/geometry", b"") or b"")

    @geometry.setter
    def geometry(self, value: bytes) -> None:
        self._set("window/geometry", value)

    @property
    def window_state(self) -> bytes:
        """Saved dock and toolbar layout."""
        return bytes(self._q.value("window/state", b"") or b"")

    @window_state.setter
    def window_state(self, value: bytes) -> None:
        self._set("window/state", value)
