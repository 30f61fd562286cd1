"""Documents added through the chat UI: checked (name, type, size), stored only inside the data
directory, then ingested like any other file. Administrators only."""
from __future__ import annotations

import hmac
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.loaders import SUPPORTED_SUFFIXES

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Upload:
    name: str
    ok: bool
    reason: str = ""


def admin_allowed(settings: Any, password: str) -> tuple[bool, str]:
    """With a password set, it must match; without one, only a UI bound to this machine may upload."""
    if settings.ui.admin_password is not None:
        good = hmac.compare_digest((password or "").encode(), settings.ui.admin_password.get_secret_value().encode())
        return good, "" if good else "Falsches Passwort."
    if settings.ui.host in LOOPBACK:
        return True, ""
    return False, "Hochladen ist gesperrt: die Oberfläche ist von außen erreichbar und KEPOL_ADMIN_PASSWORD fehlt."


def exposure_problem(settings: Any) -> str | None:
    """Why the UI must not start on `settings.ui.host`, or None: beyond this machine, administration
    needs a password, unless the operator explicitly accepts a UI without any administration."""
    if settings.ui.host in LOOPBACK or settings.ui.admin_password is not None or settings.ui.allow_exposed_without_admin:
        return None
    return (f"the chat UI would be reachable from other machines ({settings.ui.host}) without an administrator "
            "password")


def safe_name(name: str) -> str | None:
    """The name itself if it is a bare, visible file name; None for anything with a path in it
    ("../../etc/passwd", "C:\\x", "a/b.pdf") or a hidden name."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or "\x00" in name:
        return None
    return name


def store(files: list[str], original_names: list[str], folder: Path, max_mb: float) -> list[Upload]:
    """Copy acceptable uploads into `folder` (inside the data directory); reject the rest with a reason."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for src, original in zip(files, original_names):
        name = safe_name(original)
        if name is None:
            out.append(Upload(original, False, "unzulässiger Dateiname"))
            continue
        if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
            out.append(Upload(name, False, "Dateityp nicht unterstützt (erlaubt: "
                              + ", ".join(sorted(SUPPORTED_SUFFIXES)) + ")"))
            continue
        size = Path(src).stat().st_size
        if size > max_mb * 1024 * 1024:
            out.append(Upload(name, False, f"zu groß ({size / 1024 / 1024:.1f} MB, erlaubt {max_mb:g} MB)"))
            continue
        target = folder / name
        if target.resolve().parent != folder.resolve():
            out.append(Upload(name, False, "unzulässiger Dateiname"))
            continue
        shutil.copyfile(src, target)
        out.append(Upload(name, True))
    return out
