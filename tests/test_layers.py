"""The layers the folders show, checked on every import statement: core ← storage ← ingest ← the
question path (assistant/*.py) ← faces. A lower layer never imports a higher one, so each can be
read, tested and changed without the layers above it."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# layer of a module path prefix → the prefixes it may import from our code
ALLOWED = {
    "assistant.core": ("assistant.core",),
    "assistant.storage": ("assistant.core", "assistant.storage"),
    "ingest": ("assistant.core", "assistant.storage", "ingest"),
    "assistant": ("assistant.core", "assistant.storage", "ingest", "assistant"),  # not faces: checked below
    "assistant.faces": ("assistant", "ingest"),
}
OURS = ("assistant", "ingest")
UI_LIBRARIES = ("gradio", "click")  # only the faces speak to users


def _layer(module: str) -> str:
    return max((k for k in ALLOWED if module == k or module.startswith(k + ".")), key=len)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def _modules() -> list[tuple[str, Path]]:
    return [(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"), p)
            for pkg in OURS for p in (ROOT / pkg).rglob("*.py")]


def test_no_layer_imports_a_higher_one():
    wrong = []
    for module, path in _modules():
        layer = _layer(module)
        for imported in _imports(path):
            if not imported.startswith(OURS) or imported in OURS:
                continue
            ok = any(imported == a or imported.startswith(a + ".") for a in ALLOWED[layer])
            if layer == "assistant" and imported.startswith("assistant.faces"):
                ok = False
            if not ok:
                wrong.append(f"{module} ({layer}) imports {imported}")
    assert not wrong, "\n".join(wrong)


def test_only_the_faces_use_ui_libraries():
    wrong = [f"{m} imports {i}" for m, p in _modules() if _layer(m) != "assistant.faces"
             for i in _imports(p) if i.split(".")[0] in UI_LIBRARIES]
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_violation():
    """The rules reject what they are meant to reject (so the checks above can fail)."""
    assert _layer("assistant.core.text") == "assistant.core"
    assert not any("ingest".startswith(a) for a in ALLOWED["assistant.core"])
    assert _layer("assistant.api") == "assistant" and _layer("assistant.faces.ui") == "assistant.faces"
