"""Named users of the chat (`kepol user add`): each with the collections it may read and whether it
administers documents. Passwords are stored only as scrypt hashes (hashlib, memory-hard: 16 MiB and
about 50 ms per check, so a stolen users.json costs a guesser that per try), each with its own salt."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from assistant.core.errors import KepolError
from assistant.core.rights import PUBLIC, Rights, collection_names
from assistant.faces.private_file import read_records, write_records

NAME = re.compile(r"^[A-Za-z0-9ÄÖÜäöüß][A-Za-z0-9ÄÖÜäöüß._-]{0,63}$")
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}  # RFC 7914's interactive-login parameters: 16 MiB per hash
MIN_PASSWORD = 10  # characters; a passphrase of a few words passes


@dataclass(frozen=True)
class User:
    name: str
    salt: str
    digest: str
    collections: tuple[str, ...] = ()
    admin: bool = False
    created_at: str = ""

    @property
    def rights(self) -> Rights:
        """Its collections (öffentlich when it names none)."""
        return Rights(frozenset(self.collections or (PUBLIC,)), admin=self.admin, who=f"user:{self.name}")


def _hash(password: str, salt: bytes) -> str:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, maxmem=64 * 1024 * 1024, dklen=32, **SCRYPT).hex()


class UserStore:
    """The users of one data directory (`users.json`, readable by its owner only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._read: tuple[tuple[int, int, int], list[User]] | None = None

    def users(self) -> list[User]:
        """The users as stored now; the file is parsed again only when it changed (the access gate asks on
        every request without a credential; a change is a new file by rename, so inode and mtime tell)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return []
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._read is not None and self._read[0] == seen:
            return list(self._read[1])
        users = [User(**{**u, "collections": tuple(u.get("collections") or ())})
                 for u in read_records(self.path, "users", "user", "add the users again")]
        self._read = (seen, users)
        return list(users)

    def any(self) -> bool:
        return bool(self.users())

    def _save(self, users: list[User]) -> None:
        write_records(self.path, "users", [asdict(u) for u in users])

    def add(self, name: str, password: str, collections: Iterable[str] = (), admin: bool = False) -> User:
        """A new user (or new password and rights for an existing one)."""
        if not NAME.match(name or ""):
            raise KepolError(f"user name {name!r} is not allowed",
                             "use 1–64 letters, digits, dots, dashes or underscores")
        if len(password) < MIN_PASSWORD:
            raise KepolError(f"the password for {name!r} is shorter than {MIN_PASSWORD} characters",
                             "choose a longer one, e.g. a few words")
        readable = tuple(sorted(collection_names(collections)))
        salt = secrets.token_bytes(16)
        user = User(name, salt.hex(), _hash(password, salt), readable, admin,
                    datetime.now(timezone.utc).isoformat(timespec="seconds"))
        with self._lock:
            self._save([u for u in self.users() if u.name != name] + [user])
        return user

    def remove(self, name: str) -> bool:
        with self._lock:
            users = self.users()
            kept = [u for u in users if u.name != name]
            if len(kept) != len(users):
                self._save(kept)
            return len(kept) != len(users)

    def check(self, name: str, password: str) -> User | None:
        """The user whose name and password these are. An unknown name costs a hash too, so the time
        does not tell which names exist."""
        found = next((u for u in self.users() if u.name == name), None)
        salt = bytes.fromhex(found.salt) if found else b"\0" * 16
        digest = _hash(password, salt)
        return found if found is not None and hmac.compare_digest(digest, found.digest) else None
