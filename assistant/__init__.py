"""KEPol-Assistent: cited answers about German municipal development policy, offline."""
from __future__ import annotations

from assistant.core.settings import Settings
from assistant.core.types import Answer, Citation, Passage

__all__ = ["Answer", "Assistant", "Citation", "Passage", "Settings"]


def __getattr__(name: str):  # lazy: importing the package must not load Chroma or the model
    if name == "Assistant":
        from assistant.api import Assistant

        return Assistant
    raise AttributeError(name)
