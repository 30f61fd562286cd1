"""KEPol-Assistent: cited answers about German municipal development policy, offline."""
from __future__ import annotations

from assistant.core.settings import Settings, register_runtime_resolver
from assistant.core.types import Answer, Citation, Passage

__all__ = ["Answer", "Assistant", "Citation", "Passage", "Settings"]


def _runtime_in_use(settings: Settings) -> str:
    from assistant.runtime import runtime_in_use  # lazy: the model loads when an index is first named

    return runtime_in_use(settings)


register_runtime_resolver(_runtime_in_use)


def __getattr__(name: str):  # lazy: importing the package must not load Chroma or the model
    if name == "Assistant":
        from assistant.api import Assistant

        return Assistant
    raise AttributeError(name)
