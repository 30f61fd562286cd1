"""API tokens for the service doors (REST, OpenAI-compatible, MCP over HTTP). A token is shown once
when created; only its SHA-256 digest is stored (`tokens.json` in the data directory), and a
presented token is compared by digest in constant time. Tokens are 32 random bytes, so a plain hash
suffices: there is nothing to guess that a slow, salted hash would protect."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from assistant.core.errors import KepolError, register_secret
from assistant.core.rights import PUBLIC, Rights, collection_names
from assistant.faces.private_file import read_records, write_records

PREFIX = "kepol_"  # makes a leaked token recognisable (secret scanners, redaction in logs)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


@dataclass(frozen=True)
class Token:
    """One token as stored: its name, digest, rights and life."""

    name: str
    digest: str
    upload: bool = False
    created_at: str = ""
    revoked_at: str = ""
    collections: tuple[str, ...] = ()  # what it may read (none named: öffentlich)

    @property
    def active(self) -> bool:
        return not self.revoked_at

    @property
    def rights(self) -> Rights:
        """Its collections (öffentlich when it names none); a token that may upload is an admin."""
        return Rights(frozenset(self.collections or (PUBLIC,)), admin=self.upload, who=f"token:{self.name}")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """The tokens of one data directory; every change rewrites the file atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def tokens(self) -> list[Token]:
        return [Token(**{**t, "collections": tuple(t.get("collections") or ())})
                for t in read_records(self.path, "tokens", "token", "create the tokens again")]

    def any_active(self) -> bool:
        return any(t.active for t in self.tokens())

    def _save(self, tokens: list[Token]) -> None:
        write_records(self.path, "tokens", [asdict(t) for t in tokens])

    def create(self, name: str, upload: bool = False, collections: Iterable[str] = ()) -> str:
        """A new token (returned once, never stored) under a unique name, reading `collections`."""
        if not NAME.match(name or ""):
            raise KepolError(f"token name {name!r} is not allowed",
                             "use 1–64 letters, digits, spaces, dots, dashes or underscores")
        readable = collection_names(collections)
        with self._lock:
            tokens = self.tokens()
            if any(t.name == name and t.active for t in tokens):
                raise KepolError(f"a token named {name!r} exists already", "revoke it first or choose another name")
            token = PREFIX + secrets.token_urlsafe(32)
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            self._save(tokens + [Token(name, _digest(token), upload, now, collections=tuple(sorted(readable)))])
        register_secret(token)
        return token

    def revoke(self, name: str) -> bool:
        """Revoke the active token of that name; False when there is none."""
        with self._lock:
            tokens = self.tokens()
            hit = False
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            out = []
            for t in tokens:
                if t.name == name and t.active:
                    t, hit = replace(t, revoked_at=now), True
                out.append(t)
            if hit:
                self._save(out)
            return hit

    def check(self, presented: str, tokens: list[Token] | None = None) -> Token | None:
        """The active token `presented` is, compared by digest in constant time (every stored
        digest is compared, so the time does not tell which one matched). `tokens`: as just read."""
        if not presented:
            return None
        d = _digest(presented)
        found = None
        for t in self.tokens() if tokens is None else tokens:
            if hmac.compare_digest(d, t.digest) and t.active:
                found = t
        return found
