"""The codec list, the input condition, the device choice and the LFSC checkpoint, with the codecs built so far."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from codec.conditions import describe_chain
from codec.config import ENV_VAR, resolve_checkpoint, user_config_path
from codec.errors import UserError
from codec.spec import parse_chain
from workbench import roundtrip
from workbench.controllers.prompts import Prompts
from workbench.settings import Settings
from workbench.views.codec_bar import CodecBar


class CodecController(QObject):
    """Fills the codec bar, remembers the choices and names the codec the next round trip goes through."""

    available_changed = Signal(list)  # the names of the codecs that can run here

    def __init__(self, settings: Settings, bar: CodecBar, prompts: Prompts) -> None:
        super().__init__()
        self.settings, self.bar, self.prompts = settings, bar, prompts
        self.cache = roundtrip.CodecCache()
        conditions = [(c, describe_chain(parse_chain(c))) for c in roundtrip.INPUT_CONDITIONS]
        bar.set_choices(roundtrip.DEVICES, conditions)
        bar.set_device(settings.compute_device)
        bar.codec_chosen.connect(lambda name: setattr(settings, "last_codec", name))
        bar.device_chosen.connect(lambda device: setattr(settings, "compute_device", device))
        bar.checkpoint_requested.connect(lambda: self.choose_checkpoint())

    def refresh(self) -> None:
        """List the codecs (unavailable ones greyed with the reason) and select the default codec."""
        codecs = []
        for entry in roundtrip.codec_entries():
            ok, why = entry.available()
            codecs.append((entry.name, entry.description if ok else why, ok))
        self.bar.set_codecs(codecs, roundtrip.default_codec(self.settings.last_codec))
        available = self.available()
        self.bar.set_checkpoint_ready("lfsc" in available)
        self.bar.checkpoint_button.setToolTip(f"LFSC checkpoint in use: {active_checkpoint()}")
        self.available_changed.emit(available)

    def available(self) -> list[str]:
        """The codecs that can run here, in registry order."""
        return [entry.name for entry in roundtrip.codec_entries() if entry.available()[0]]

    def codec(self) -> str:
        """The chosen codec, without its input condition."""
        return self.bar.codec()

    def selected(self) -> str:
        """The chosen codec under the chosen input condition; a UserError names what is wrong with the condition."""
        return roundtrip.conditioned(self.bar.codec(), self.bar.condition())

    def device(self) -> str:
        """Where model codecs run (auto, cpu or cuda)."""
        return self.bar.device()

    def choose_checkpoint(self, path: str | None = None) -> None:
        """Point the app (and the CLIs, through the user config) at an LFSC .nemo checkpoint."""
        from codec.config import write_user_config

        if path is None:
            path = self.prompts.open_file("LFSC checkpoint", self.settings.checkpoint,
                                          "NeMo checkpoint (*.nemo);;All files (*)")
            if not path:
                return
        try:
            validate_checkpoint(path)
        except UserError as exc:
            self.prompts.show_error("Checkpoint", str(exc))
            return
        self.settings.checkpoint = path
        config = write_user_config(checkpoint=path)
        self.cache.clear()
        self.refresh()
        if "lfsc" in self.available():
            self.bar.select_codec("lfsc")
        overridden = os.environ.get(ENV_VAR)
        if overridden and Path(overridden).expanduser().resolve() != Path(path).resolve():
            self.prompts.show_error("Checkpoint saved, but not in use", f"{path} is saved in {config}, but ${ENV_VAR} "
                                    f"= {overridden} wins over it: unset {ENV_VAR} and start the app again to use it.")
            return
        self.prompts.status(f"LFSC checkpoint in use: {active_checkpoint()}", 8000)


def validate_checkpoint(path: str) -> None:
    """Refuse, on choosing, what cannot be an LFSC checkpoint (codec.lfsc.checkpoint's one check, which reads its
    config but not its weights) before the choice is saved."""
    from codec.lfsc.checkpoint import check_checkpoint

    check_checkpoint(path)


def active_checkpoint() -> str:
    """The checkpoint LFSC loads and where that choice comes from ($LFSC_CHECKPOINT wins over the app's)."""
    try:
        path = resolve_checkpoint()
    except UserError as exc:
        return str(exc)
    if path is None:
        return "none chosen"
    where = f"${ENV_VAR}, which wins over the app's choice" if os.environ.get(ENV_VAR) else str(user_config_path())
    return f"{path} (from {where})"
