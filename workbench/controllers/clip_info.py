"""The language and transcript of the current clip: set by the user on any clip, remembered per file, used by CER."""

from __future__ import annotations

from PySide6.QtCore import QObject

from codec.errors import UserError
from workbench.clip_model import ClipModel
from workbench.controllers.prompts import Prompts
from workbench.settings import Settings
from workbench.views.library_view import LibraryView

ASR_LABELS = ("CER", "dCER", "ASR")  # the metrics that a new language or transcript makes stale


class ClipInfoController(QObject):
    """Fills a clip's language and transcript from what the user set for its file, and remembers new ones."""

    def __init__(self, settings: Settings, model: ClipModel, library: LibraryView, prompts: Prompts) -> None:
        super().__init__()
        self.settings, self.model, self.library, self.prompts = settings, model, library, prompts
        model.clip_changed.connect(self._clip_opened)
        library.clip_info_edited.connect(self.set_info)

    def set_info(self, lang: str, transcript: str) -> bool:
        """Set the current clip's language (an ISO 639-1 code, or "" for unknown) and transcript, and remember them
        for its file; CER values measured before are dropped."""
        from eval.manifest import check_lang

        clip = self.model.clip
        if clip is None:
            return False
        lang, transcript = lang.strip().lower(), " ".join(transcript.split())
        try:
            if lang:
                check_lang(lang, "the clip's language")
        except UserError as exc:
            self.prompts.show_error("Cannot set the language", str(exc))
            return False
        clip.lang, clip.transcript = lang, transcript
        if clip.path is not None:
            self.settings.set_clip_info(clip.path, lang, transcript)
        stale = [label for label in self.model.metrics if label.startswith(ASR_LABELS)]
        for label in stale:
            del self.model.metrics[label]
        self.model.metrics_changed.emit()
        kept = f", remembered for {clip.path.name}" if clip.path is not None else " (an unsaved take: not remembered)"
        self.prompts.status(f"{clip.name}: language {lang or 'unknown'}, "
                            f"{'a transcript' if transcript else 'no transcript'}{kept}", 5000)
        return True

    def _clip_opened(self) -> None:
        """What the user set for this file before fills what the file itself does not say."""
        clip = self.model.clip
        if clip is None:
            self.library.show_clip_info("", "", enabled=False)
            return
        if clip.path is not None:
            lang, transcript = self.settings.clip_info(clip.path)
            clip.lang = clip.lang or lang
            clip.transcript = clip.transcript or transcript
        self.library.show_clip_info(clip.lang, clip.transcript)
