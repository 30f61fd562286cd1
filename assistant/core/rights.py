"""Collections and who may read them. Every document belongs to exactly one collection; a caller's
`Rights` name the collections retrieval may see. The storage layer applies them (IndexVersion.seen_by),
so a document outside them never enters ranking, the gate, an answer or a listing."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from assistant.core.errors import KepolError

PUBLIC = "öffentlich"  # the bundled corpus's collection, and what a caller with no collection named sees
# letters (umlauts too), digits, dashes and underscores, starting with a letter or digit: safe in a URL,
# a file name, a CLI argument and a metadata field alike
NAME = re.compile(r"^[0-9A-Za-zÄÖÜäöüß][0-9A-Za-zÄÖÜäöüß_-]{0,39}$")


class CollectionNameError(KepolError):
    """A collection name that is not allowed; `de` says so in German for the German faces."""

    def __init__(self, name: object) -> None:
        shown = repr(name)[:60]
        super().__init__(f"collection name {shown} is not allowed",
                         "use 1–40 letters (ä, ö, ü, ß too), digits, dashes or underscores, e.g. rat-intern")
        self.de = (f"Der Sammlungsname {shown} ist nicht erlaubt: 1–40 Buchstaben, Ziffern, Binde- oder "
                   "Unterstriche, z. B. rat-intern.")


def collection_name(name: object) -> str:
    """`name` as a valid collection name, or CollectionNameError."""
    if not isinstance(name, str) or not NAME.match(name.strip()):
        raise CollectionNameError(name)
    return name.strip()


def collection_names(names: str | Iterable[str]) -> frozenset[str]:
    """A comma-separated list (or any iterable) of collection names, each checked."""
    parts = names.split(",") if isinstance(names, str) else list(names)
    return frozenset(collection_name(p) for p in parts if not (isinstance(p, str) and not p.strip()))


@dataclass(frozen=True)
class Rights:
    """What one caller may see and do. `collections` None: every collection (the machine's owner at
    the command line, the single UI password); `admin`: may upload, delete and edit documents."""

    collections: frozenset[str] | None = None
    admin: bool = False
    who: str = ""

    def sees(self, collection: str) -> bool:
        return self.collections is None or collection in self.collections

    @property
    def restricted(self) -> bool:
        return self.collections is not None


EVERYTHING = Rights(None, admin=True, who="local")
PUBLIC_ONLY = Rights(frozenset({PUBLIC}))
