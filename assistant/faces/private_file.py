"""The JSON files of credentials (tokens.json, users.json): one list of records under a key, read with
a clear error when damaged, written atomically and readable by the owner only."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant.core.errors import KepolError
from assistant.storage.manifest import atomic_write


def read_records(path: Path, key: str, what: str, again: str) -> list[dict[str, Any]]:
    """The records under `key` (none when the file does not exist yet)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise KepolError(f"{path}: the {what} file cannot be read ({type(exc).__name__})",
                         f"restore it from a backup, or delete it and {again}") from exc
    return list(data.get(key, []))


def write_records(path: Path, key: str, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({key: records}, ensure_ascii=False, indent=1), private=True)
