"""Gradio chat (German UI): answers on the left, the cited passages beside them. A thin layer
over Assistant.ask — it builds nothing and stores nothing itself."""
from __future__ import annotations

import html
import re
from datetime import datetime
from pathlib import Path
from dataclasses import dataclass
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import gradio as gr  # the CLI sets GRADIO_ANALYTICS_ENABLED=False before this import (no outbound calls)

from assistant.export import export_file as write_export
from assistant.core.rights import PUBLIC, PUBLIC_ONLY, CollectionNameError, Rights
from assistant.faces.access import IDENTITY_HEADER, rights_of_headers
from assistant.faces.service import ServiceError, upload_collection
from assistant.faces.ratelimit import RateLimiter
from assistant.core.errors import KepolError
from assistant.faces.upload import admin_allowed, store
from assistant.manage import DocumentNotFound, EditError
from ingest.loaders import SUPPORTED_SUFFIXES
from assistant.answer import EVIDENCE_HEADING
from assistant.core.types import KINDS, OCR_LABEL, Answer, Citation, Delta, LibraryFilter, kind_label

if TYPE_CHECKING:  # the app is built around an Assistant; importing it here would load the core eagerly
    from assistant.api import Assistant

STARTERS_BY_GROUP = {
    "neu in der Verwaltung": ["Wie starte ich eine Städtepartnerschaft? Wer unterstützt uns?",
                              "Wo finde ich einen Überblick über Förderprogramme?"],
    "Rat und Politik": ["Was fordert der Deutsche Städtetag zur Städtediplomatie?",
                        "Welche Politikfelder sollen laut der Hamburger Erklärung verbunden werden?"],
    "Migrantenorganisationen": ["Welche Angebote hat die SKEW für migrantische Organisationen?",
                                "Wie oft wird der Wettbewerb „Kommune bewegt Welt“ ausgelobt?"],
}

LIBRARY_COLUMNS = ("Titel", "Art", "Herausgeber", "Jahr", "Seiten", "Abschnitte", "Eingelesen", "Hinweise",
                   "Sammlung")

CSS = """
.kepol-library {width: 100%; border-collapse: collapse; table-layout: auto; font-size: 0.95em;}
.kepol-library th {white-space: nowrap; hyphens: none; text-align: left; padding: 0.4em 0.6em;
  border-bottom: 2px solid #1f5aa6;}
.kepol-library td {padding: 0.4em 0.6em; border-bottom: 1px solid #ddd; vertical-align: top;
  overflow-wrap: break-word;}
.kepol-library td:nth-child(n+2):nth-child(-n+7) {white-space: nowrap;}
.kepol-library td:nth-child(3) {white-space: normal; min-width: 9em;}
.kepol-library td:first-child {min-width: 14em;}
@media (max-width: 700px) {
  .kepol-library thead {display: none;}
  .kepol-library tr {display: block; border-bottom: 2px solid #1f5aa6; padding: 0.4em 0;}
  .kepol-library td {display: block; border: none; padding: 0.1em 0.4em; white-space: normal !important;
    min-width: 0 !important;}
  .kepol-library td::before {content: attr(data-label) ": "; font-weight: bold;}
  .kepol-library td.empty {display: none;}
}
.kepol-starter {white-space: normal !important; text-align: left;}
#kepol-chat .top-panel {display: none !important;}  /* "Chat leeren" would empty the view but not the
   conversation (its turns, its numbering): "Neues Gespräch" starts over */
.kepol-src {border-left: 4px solid #1f5aa6; padding: 0.4em 0.8em; margin: 0.6em 0; background: #f5f8fc;
  color: #111;}
.kepol-src mark {background: #ffe58a; color: #111;}
.kepol-src .meta {font-size: 0.9em; color: #333;}
.kepol-src details {margin-top: 0.3em;}
.kepol-src .ctx {color: #555;}
"""


@dataclass(frozen=True)
class SourceExtras:
    """What the app adds to a citation from the index: surrounding text and a link to the original."""

    before: str = ""
    after: str = ""
    url: str = ""


def sources_html(answer: Answer | None, extras: dict[int, SourceExtras] | None = None, offset: int = 0) -> str:
    """Citations as escaped HTML: document text never becomes markup or script. `offset`: the
    citations of the conversation's earlier answers, so that [n] is the same passage everywhere."""
    if answer is None:
        return "<p>Hier erscheinen die Belegstellen zur Antwort.</p>"
    if not answer.citations:
        return "<p>Keine Belegstellen – die Dokumente enthalten dazu keine Angabe.</p>"
    return "\n".join(_citation_html(c, (extras or {}).get(c.n, SourceExtras()), offset) for c in answer.citations)


def citation_offset(answers: list[Answer]) -> int:
    """How many citations the conversation's earlier answers hold: a new answer numbers on from there
    (the contract numbers each answer from 1; the chat numbers across the conversation)."""
    return sum(len(a.citations) for a in answers)


def renumbered(markdown: str, answer: Answer | None, offset: int) -> str:
    """The answer's escaped citation marks `\\[n\\]` as `\\[n + offset\\]`: only its own citation
    numbers (a bracketed number quoted from a document stays as it is); every mark while the answer
    still streams and its citations are not known yet."""
    if not offset:
        return markdown
    own = {c.n for c in answer.citations} if answer is not None else None
    return re.sub(r"\\\[(\d+)\\\]", lambda m: f"\\[{int(m.group(1)) + offset}\\]"
                  if own is None or int(m.group(1)) in own else m.group(0), markdown)


def _citation_html(c: Citation, x: SourceExtras, offset: int = 0) -> str:
    page = f", S. {c.page}" if c.page else ""
    start = c.passage.find(c.quote)
    if start >= 0:
        passage = (html.escape(c.passage[:start]) + "<mark>" + html.escape(c.quote) + "</mark>"
                   + html.escape(c.passage[start + len(c.quote):]))
    else:
        passage = html.escape(c.passage)
    context = (f'<span class="ctx">…{html.escape(x.before)}</span> ' if x.before else "") + passage + \
        (f' <span class="ctx">{html.escape(x.after)}…</span>' if x.after else "")
    link = (f' · <a href="{html.escape(x.url)}" target="_blank" rel="noopener">Original öffnen{html.escape(page)}</a>'
            if x.url else "")
    return (f'<div class="kepol-src"><div class="meta"><b>[{c.n + offset}] {html.escape(c.title)}</b>'
            f"{html.escape(page)} · {html.escape(kind_label(c.kind) if c.kind else '')}"
            f"{' · ' + str(c.year) if c.year else ''}{' · ' + OCR_LABEL if c.ocr else ''}"
            f"{' · ' + html.escape(c.version_note) if c.version_note else ''}"
            f" · {html.escape(c.source)}{link}</div>"
            f"<blockquote>„{html.escape(c.quote)}“</blockquote>"
            f"<details><summary>Im Zusammenhang lesen</summary><p>{context}</p></details></div>")


def _escape(text: str) -> str:
    """Text from documents or users as inert Markdown: no HTML, and no link or image syntax (an
    image `![](https://…)` in a document would make every reader's browser call that server)."""
    text = html.escape(text, quote=False)
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def answer_markdown(answer: Answer) -> str:
    """The whole answer text for a chat bubble (lead and Belege); escaped so document text cannot
    inject markup."""
    text = _escape(answer.answer)
    if answer.notice:  # e.g. the language model failed and the extractive answer stands in
        text += "\n\n*Hinweis: " + _escape(answer.notice) + "*"
    return text


def emphasised(text: str, spans: tuple[tuple[int, int], ...]) -> str:
    """Escaped text with the answer's emphasis spans (what a typed question asked for) in bold."""
    out, at = [], 0
    for a, e in sorted(spans):
        if at <= a < e <= len(text):
            out += [_escape(text[at:a]), "**", _escape(text[a:e]), "**"]
            at = e
    return "".join(out) + _escape(text[at:])


def evidence_text(answer: Answer) -> str:
    """What follows the lead: the supporting excerpts, without their heading."""
    lead = answer.lead or answer.answer
    rest = answer.answer[len(lead):].strip() if answer.answer.startswith(lead) else ""
    return rest.removeprefix(EVIDENCE_HEADING).strip()


def _kept(markdown: str) -> str:
    """Message text as Gradio will show it: its Chatbot strips the common indentation of every line
    after the first (inspect.cleandoc), which flattened Belege that were one list nested under its
    lead-in. A first blank line sets that common indentation to none; Gradio drops the blank line."""
    return "\n" + markdown if "\n " in markdown else markdown


def answer_messages(answer: Answer, offset: int = 0) -> list[dict[str, Any]]:
    """The chat messages of one answer: the lead, then the Belege and the Quellen, each folded away
    under a title. The Quellen sit with their answer (on a phone the sources panel is far below), and
    every [n] counts across the conversation, as in the panel."""
    lead = renumbered(emphasised(answer.lead or answer.answer, answer.emphasis), answer, offset)
    if answer.notice:
        lead += "\n\n*Hinweis: " + _escape(answer.notice) + "*"
    messages: list[dict[str, Any]] = [{"role": "assistant", "content": _kept(lead)}]
    rest = evidence_text(answer)
    if rest:
        n = len(set(re.findall(r"\[(\d+)\]", rest)) - set(re.findall(r"\[(\d+)\]", answer.lead or "")))
        messages.append({"role": "assistant", "content": _kept(renumbered(_escape(rest), answer, offset)),
                         "metadata": {"title": f"Belege ({n})" if n else "Belege", "status": "done"}})
    if answer.citations:
        messages.append({"role": "assistant", "content": sources_markdown(answer, offset),
                         "metadata": {"title": f"Quellen ({len(answer.citations)})", "status": "done"}})
    return messages


def sources_markdown(answer: Answer, offset: int = 0) -> str:
    """An answer's citations as escaped Markdown lines: number, document, page, the quoted passage."""
    lines = []
    for c in answer.citations:
        page = f", S. {c.page}" if c.page else ""
        note = f" ({OCR_LABEL})" if c.ocr else ""
        lines.append(f"**\\[{c.n + offset}\\] {_escape(c.title)}{page}**{note}  \n„{_escape(c.quote)}“")
    return "\n\n".join(lines)


ALL = "alle"


def _bubble(text: str) -> str:
    return _escape(text)


AUDIT_COLUMNS = ("Zeit", "Wer", "Aktion", "Titel", "Kennung", "Sammlung")
AUDIT_DE = {"upload": "hochgeladen", "ingest": "eingelesen", "delete": "gelöscht", "replace": "ersetzt",
            "edit": "bearbeitet"}
STATUS_DE = {"ingested": "eingelesen", "unchanged": "unverändert", "duplicate": "Duplikat", "skipped": "übersprungen",
             "removed": "entfernt"}


class ChatHandlers:
    """What the app's events do, as methods over one Assistant: callable and testable without a
    browser. Per browser session the app keeps the user's turns (for follow-ups) and the answers
    (for feedback and export) in Gradio state; the handlers take and return them."""

    def __init__(self, assistant: Assistant, limiter: RateLimiter | None = None) -> None:
        self.assistant = assistant
        # the server passes its doors' limiter: a token's questions count once, whichever door they use
        self.limiter = limiter or RateLimiter(assistant.settings.ui.rate_limit_per_minute)

    def extras(self, answer: Answer, rights: Rights | None = None) -> dict[int, SourceExtras]:
        """Each citation's surrounding text and a link to the original at its page."""
        out = {}
        for c in answer.citations:
            before, after = self.assistant.citation_context(answer, c, rights=rights)
            path = self.assistant.source_file(c.doc_id, rights)
            url = f"/gradio_api/file={quote(str(path))}" + (f"#page={c.page}" if c.page else "") if path else ""
            out[c.n] = SourceExtras(before, after, url)
        return out

    def respond(self, message: str, chat: list[dict[str, str]], turns: list[str], answers: list[Answer],
                kind: str = ALL, publisher: str = ALL, all_versions: bool = False,
                request: gr.Request | None = None) -> Iterator[tuple[str, list[dict[str, str]], list[str],
                                                                     list[Answer], str]]:
        """Stream one answer into the chat: (question box, chat, turns, answers, sources) per update."""
        message = (message or "").strip()
        if not message:
            yield "", chat, turns, answers, sources_html(None)
            return
        chat = list(chat) + [{"role": "user", "content": _bubble(message)}, {"role": "assistant", "content": "…"}]
        wait = self.limiter.wait_seconds(_session(request))
        if wait:
            chat[-1] = {"role": "assistant", "content": f"Bitte warten Sie {wait:.0f} Sekunden vor der nächsten Frage."}
            yield message, chat, turns, answers, sources_html(None)
            return
        shown = ""
        final: Answer | None = None
        offset = citation_offset(answers)
        only = LibraryFilter(None if kind == ALL else kind, None if publisher == ALL else publisher)
        rights = _rights(request)
        try:
            for event in self.assistant.ask_stream(message, history=list(turns), only=only,
                                                   include_superseded=bool(all_versions), rights=rights):
                if isinstance(event, Delta):
                    shown += event.text
                    chat[-1] = {"role": "assistant", "content": renumbered(_bubble(shown), None, offset)}
                    yield "", chat, turns, answers, sources_html(None)
                else:
                    final = event.answer
        except KepolError as exc:  # e.g. the Chroma server is down: say so, keep the session alive
            chat[-1] = {"role": "assistant", "content": _escape(f"Das ging gerade nicht: {exc.message}. {exc.hint}")}
            yield message, chat, turns, answers, sources_html(None)
            return
        assert final is not None
        chat[-1:] = answer_messages(final, offset)
        yield "", chat, list(turns) + [message], list(answers) + [final], \
            sources_html(final, self.extras(final, rights), offset)

    def ask_json(self, question: str, history: list[str] | None = None,
                 request: gr.Request | None = None) -> dict[str, Any]:
        """Programmatic endpoint: the same JSON contract as `kepol ask --json`."""
        wait = self.limiter.wait_seconds(_session(request))
        if wait:
            return {"error": "rate_limited", "retry_after_s": round(wait, 1)}
        try:
            return self.assistant.ask(question or "", history=list(history or []), rights=_rights(request)).to_contract()
        except KepolError as exc:
            return {"error": type(exc).__name__, "message": exc.message, "hint": exc.hint}

    def rate(self, rating: int, comment: str, answers: list[Answer]) -> tuple[str, str]:
        """Store 👍/👎 for the last answer: (status line, comment box)."""
        if not answers:
            return "Noch keine Antwort zum Bewerten.", comment
        if self.assistant.record_feedback(answers[-1], rating, comment or "") is None:
            return "Rückmeldungen werden hier nicht gespeichert (Datenschutz-Einstellung).", ""
        return "Danke für Ihre Rückmeldung.", ""

    def thumbs_up(self, comment: str, answers: list[Answer]) -> tuple[str, str]:
        return self.rate(1, comment, answers)

    def thumbs_down(self, comment: str, answers: list[Answer]) -> tuple[str, str]:
        return self.rate(-1, comment, answers)

    def export(self, answers: list[Answer]) -> str | None:
        """The conversation as a Markdown file (its path), or nothing before the first answer."""
        return str(write_export(list(answers))) if answers else None

    def starter(self, question: str) -> Callable[..., Iterator[tuple[str, list[dict[str, str]], list[str],
                                                                    list[Answer], str]]]:
        """The handler of one starter button: it asks its question in the current session."""
        def ask(chat: list[dict[str, str]], turns: list[str], answers: list[Answer], kind: str = ALL,
                publisher: str = ALL, all_versions: bool = False, request: gr.Request | None = None
                ) -> Iterator[tuple[str, list[dict[str, str]], list[str], list[Answer], str]]:
            yield from self.respond(question, chat, turns, answers, kind, publisher, all_versions, request)
        return ask

    def library_html(self, request: gr.Request | None = None) -> str:
        """The library as an HTML table that fits a wide window and a phone: short German column
        names that never break inside a word, long titles and notes that wrap, and on a narrow
        screen one card per document (CSS in CSS)."""
        head = "".join(f'<th scope="col">{c}</th>' for c in LIBRARY_COLUMNS)
        rows = []
        for r in self.library(request):
            r[6] = _when(str(r[6]))
            # an empty field stays an empty cell in the table and is left out of a phone's card
            cells = "".join(f'<td data-label="{c}">{html.escape(str(v))}</td>' if _shown(v) else
                            f'<td data-label="{c}" class="empty"></td>' for c, v in zip(LIBRARY_COLUMNS, r))
            rows.append(f"<tr>{cells}</tr>")
        if not rows:
            return "<p>Noch keine Dokumente indexiert.</p>"
        return f'<table class="kepol-library"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'

    def library(self, request: gr.Request | None = None) -> list[list[Any]]:
        return [[r["title"], kind_label(r["kind"]), r["publisher"], r["year"], r["pages"], r["chunks"], r["ingested_at"],
                 r["notes"], r["collection"]] for r in self.assistant.library(_rights(request))]

    def upload(self, files: list[Any] | None, password: str, collection: str = PUBLIC,
               request: gr.Request | None = None, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> str:
        """Administrators add documents to a collection: files are checked and copied, ingested, and
        each file's outcome shown in German."""
        settings = self.assistant.settings
        allowed, why = _admin(settings, password, request)
        if not allowed:
            return f"**{html.escape(why)}**"
        try:  # the same rule as the REST upload's: a valid name the uploader may read
            target = upload_collection(collection, _rights(request) or Rights(None))
        except ServiceError as exc:
            return f"**{html.escape(exc.de)}**"
        paths = [f if isinstance(f, str) else f.name for f in files or []]
        if not paths:
            return "Keine Datei ausgewählt."
        folder = settings.store.data_dir / "uploads" / target
        stored = store(paths, [Path(p).name for p in paths], folder, settings.ingest.max_file_mb)
        lines = ["| Datei | Ergebnis |", "|---|---|"]
        lines += [f"| {html.escape(u.name)} | abgelehnt: {html.escape(u.reason)} |" for u in stored if not u.ok]
        good = [folder / u.name for u in stored if u.ok]
        if good:
            for r in self.assistant.ingest(good, progress=True, collection=target, who=_actor(request)).results:
                detail = f": {html.escape(r.reason_de or r.reason)}" if r.reason else ""
                lines.append(f"| {html.escape(Path(r.path).name)} | {STATUS_DE.get(r.status, r.status)}{detail} |")
        return "\n".join(lines)

    def document_choices(self, request: gr.Request | None = None) -> dict[str, Any]:
        """The documents the caller may read, for the Verwaltung's document picker."""
        return gr.update(choices=[(f"{r['title']} ({r['doc_id']})", r["doc_id"])
                                  for r in self.assistant.library(_rights(request))], value=None)

    def _manage(self, password: str, request: gr.Request | None, action: Callable[[Rights | None, str], str]) -> str:
        """An administrator's action on a document, its outcome (or why it was refused) in German."""
        allowed, why = _admin(self.assistant.settings, password, request)
        if not allowed:
            return f"**{html.escape(why)}**"
        rights = _rights(request)
        try:
            return action(rights, _actor(request))
        except (DocumentNotFound, EditError, CollectionNameError) as exc:
            return f"**{html.escape(exc.de)}**"

    def delete_document(self, doc_id: str, password: str, request: gr.Request | None = None) -> str:
        if not doc_id:
            return "Kein Dokument ausgewählt."
        return self._manage(password, request, lambda rights, who: "„{}“ gelöscht.".format(
            html.escape(self.assistant.delete_document(doc_id, rights, who).title)))

    def edit_document(self, doc_id: str, title: str, kind: str, publisher: str, year: str, collection: str,
                      password: str, request: gr.Request | None = None) -> str:
        """Only the fields filled in change."""
        if not doc_id:
            return "Kein Dokument ausgewählt."
        changes: dict[str, Any] = {k: v.strip() for k, v in (("title", title), ("publisher", publisher),
                                                             ("year", year), ("collection", collection)) if v and v.strip()}
        if kind and kind != ALL:
            changes["kind"] = kind
        if not changes:
            return "Keine Änderung angegeben."

        def edit(rights: Rights | None, who: str) -> str:
            done = self.assistant.edit_document(doc_id, changes, rights, who)
            note = " Titel oder Herausgeber sind Teil des eingebetteten Texts: neu eingebettet." if done.reembedded else ""
            return f"„{html.escape(done.record.title)}“ gespeichert.{note}"
        return self._manage(password, request, edit)

    def replace_document(self, doc_id: str, file: Any, remove_old: bool, password: str,
                         request: gr.Request | None = None) -> str:
        """A new file becomes the current version of the picked document (the old one kept as superseded,
        or deleted)."""
        if not doc_id:
            return "Kein Dokument ausgewählt."
        path = file if isinstance(file, str) else getattr(file, "name", "")
        if not path:
            return "Keine Datei ausgewählt."
        name = Path(path).name
        if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
            return f"**Dateityp von „{html.escape(name)}“ wird nicht gelesen.**"

        def replace(rights: Rights | None, who: str) -> str:
            report = self.assistant.replace_document(doc_id, Path(path), rights, who, bool(remove_old))
            return "\n".join(f"„{html.escape(Path(r.path).name)}“: {STATUS_DE.get(r.status, r.status)}"
                             + (f" ({html.escape(r.reason_de or r.reason)})" if r.reason else "") for r in report.results)
        return self._manage(password, request, replace)

    def audit_html(self, password: str, request: gr.Request | None = None) -> str:
        """The audit log (newest first) as a table, for administrators, limited to what they may read."""
        allowed, why = _admin(self.assistant.settings, password, request)
        if not allowed:
            return f"**{html.escape(why)}**"
        entries = list(reversed(self.assistant.audit.entries(_rights(request))))
        if not entries:
            return "<p>Noch keine Einträge.</p>"
        head = "".join(f'<th scope="col">{c}</th>' for c in AUDIT_COLUMNS)
        rows = "".join("<tr>" + "".join(f'<td data-label="{c}">{html.escape(str(v))}</td>' for c, v in zip(
            AUDIT_COLUMNS, (_when(e["at"]), e["who"], AUDIT_DE.get(e["action"], e["action"]), e.get("title", ""),
                            e["doc_id"], e.get("collection", "")))) + "</tr>" for e in entries)
        return f'<table class="kepol-library"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'

    @staticmethod
    def reset() -> tuple[list[Any], list[str], list[Answer], str, str, str]:
        """A new conversation: chat, turns, answers, sources, question box and status emptied."""
        return [], [], [], sources_html(None), "", ""

    def filter_choices(self, request: gr.Request | None = None,
                       rights: Rights | None = None) -> tuple[list[tuple[str, str]], list[str]]:
        """The document kinds (German names) and publishers of what the caller may read now."""
        docs = self.assistant.library(rights if request is None else _rights(request))
        kinds = sorted({r["kind"] for r in docs if r["kind"]})
        return ([(ALL, ALL)] + [(kind_label(k), k) for k in kinds],
                [ALL] + sorted({r["publisher"] for r in docs if r["publisher"]}))

    def refresh_filters(self, request: gr.Request | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        kinds, publishers = self.filter_choices(request)
        return gr.update(choices=kinds), gr.update(choices=publishers)


def create_app(assistant: Assistant, limiter: RateLimiter | None = None) -> gr.Blocks:
    """Layout and wiring around one Assistant (tests pass one with a temp-dir index); what the
    events do is in ChatHandlers."""
    h = ChatHandlers(assistant, limiter)
    with gr.Blocks(title="KEPol-Assistent", analytics_enabled=False) as app:
        gr.Markdown("## KEPol-Assistent\nFragen zur kommunalen Entwicklungspolitik – jede Antwort mit Belegstellen.")
        turns = gr.State([])
        answers = gr.State([])
        with gr.Tab("Fragen"):
            with gr.Row():
                with gr.Column(scale=3):
                    # nothing floats over the messages: Gradio draws the label and its toolbar (share to Hugging
                    # Face, clear, copy all) over the top message once the chat scrolls; a copy button per message
                    chat = gr.Chatbot(label="Gespräch", show_label=False, height=460, sanitize_html=True,
                                      elem_id="kepol-chat", buttons=["copy"])
                    box = gr.Textbox(label="Ihre Frage", placeholder="z. B. Welche Angebote hat die SKEW?",
                                     lines=1, max_lines=4, autofocus=True)
                    with gr.Row():
                        send = gr.Button("Fragen", variant="primary")
                        new = gr.Button("Neues Gespräch")
                    starters = []
                    for group, questions in STARTERS_BY_GROUP.items():
                        gr.Markdown(f"**Beispielfragen – {group}**", elem_classes=["kepol-starter-group"])
                        with gr.Row():
                            starters += [(q, gr.Button(q, size="sm", elem_classes=["kepol-starter"]))
                                         for q in questions]
                    with gr.Accordion("Rückmeldung und Export", open=False):
                        comment = gr.Textbox(label="Kommentar zur letzten Antwort (optional)", lines=2)
                        with gr.Row():
                            up = gr.Button("👍 hilfreich")
                            down = gr.Button("👎 nicht hilfreich")
                            export_btn = gr.Button("Gespräch als Markdown exportieren")
                        status = gr.Markdown("")
                        export_file = gr.File(label="Export", interactive=False)
                with gr.Column(scale=2):
                    with gr.Row():
                        # the page as built shows öffentlich's kinds and publishers; each visitor's own on load
                        kind_choices, publisher_choices = h.filter_choices(rights=PUBLIC_ONLY)
                        kind = gr.Dropdown(kind_choices, value=ALL, label="Dokumentart")
                        publisher = gr.Dropdown(publisher_choices, value=ALL, label="Herausgeber")
                        all_versions = gr.Checkbox(False, label="Auch ältere Fassungen durchsuchen")
                    gr.Markdown("### Belegstellen")
                    sources = gr.HTML(sources_html(None))
        with gr.Tab("Dokumente"):
            gr.Markdown("Diese Dokumente sind indexiert:")
            table = gr.HTML("")  # filled on load with what this visitor may read
            refresh = gr.Button("Aktualisieren")
        with gr.Tab("Verwaltung"):
            gr.Markdown("Neue Dokumente hochladen (PDF, DOCX, TXT, Markdown, HTML, Bilder: PNG, JPEG, TIFF). "
                        "Nur für Administratoren.")
            files = gr.File(label="Dokumente", file_count="multiple",
                            file_types=sorted(SUPPORTED_SUFFIXES), type="filepath")
            upload_collection = gr.Textbox(PUBLIC, label="Sammlung", max_lines=1)
            password = gr.Textbox(label="Administrator-Passwort", type="password")
            upload_btn = gr.Button("Hochladen und einlesen", variant="primary")
            upload_result = gr.Markdown("")
            gr.Markdown("### Dokument bearbeiten oder löschen")
            managed = gr.Dropdown([], label="Dokument", value=None)
            with gr.Row():
                edit_title = gr.Textbox(label="Neuer Titel", max_lines=1)
                edit_kind = gr.Dropdown([(ALL, ALL)] + [(kind_label(k), k) for k in KINDS], value=ALL,
                                        label="Neue Dokumentart")
                edit_publisher = gr.Textbox(label="Neuer Herausgeber", max_lines=1)
                edit_year = gr.Textbox(label="Neues Jahr", max_lines=1)
                edit_collection = gr.Textbox(label="Neue Sammlung", max_lines=1)
            with gr.Row():
                save_btn = gr.Button("Änderungen speichern")
                delete_btn = gr.Button("Dokument löschen", variant="stop")
            with gr.Row():
                new_version = gr.File(label="Neue Fassung", file_types=sorted(SUPPORTED_SUFFIXES), type="filepath")
                remove_old = gr.Checkbox(False, label="Alte Fassung löschen (sonst bleibt sie als ältere Fassung)")
                replace_btn = gr.Button("Durch neue Fassung ersetzen")
            manage_result = gr.Markdown("")
            gr.Markdown("### Protokoll (wer hat was hochgeladen, geändert oder gelöscht)")
            audit_btn = gr.Button("Protokoll anzeigen")
            audit_table = gr.HTML("")
        inputs = [box, chat, turns, answers, kind, publisher, all_versions]
        send.click(h.respond, inputs, [box, chat, turns, answers, sources], api_name="chat")
        box.submit(h.respond, inputs, [box, chat, turns, answers, sources], api_visibility="private")
        for i, (question, button) in enumerate(starters):  # a click on a starter asks it
            # named, so that they do not take the name "ask" of the JSON endpoint below
            button.click(h.starter(question), inputs[1:], [box, chat, turns, answers, sources],
                         api_name=f"starter_{i}", api_visibility="private")
        new.click(h.reset, None, [chat, turns, answers, sources, box, status], api_name="reset")
        up.click(h.thumbs_up, [comment, answers], [status, comment], api_name="feedback_up")
        down.click(h.thumbs_down, [comment, answers], [status, comment], api_name="feedback_down")
        export_btn.click(h.export, [answers], export_file, api_name="export")
        refresh.click(h.library_html, None, table).then(h.refresh_filters, None, [kind, publisher])
        hidden_library = gr.JSON(visible=False)
        refresh.click(h.library, None, hidden_library, api_name="library")
        # what an upload added shows in the library and in the filters at once
        upload_btn.click(h.upload, [files, password, upload_collection], upload_result, api_name="upload").then(
            h.library_html, None, table).then(h.refresh_filters, None, [kind, publisher]).then(
            h.document_choices, None, managed)
        hidden_q = gr.Textbox(visible=False)
        hidden_h = gr.JSON(visible=False)
        hidden_out = gr.JSON(visible=False)
        hidden_q.submit(h.ask_json, [hidden_q, hidden_h], hidden_out, api_name="ask")
        edits = [managed, edit_title, edit_kind, edit_publisher, edit_year, edit_collection, password]
        save_btn.click(h.edit_document, edits, manage_result, api_name="edit_document").then(
            h.library_html, None, table).then(h.document_choices, None, managed)
        delete_btn.click(h.delete_document, [managed, password], manage_result, api_name="delete_document").then(
            h.library_html, None, table).then(h.document_choices, None, managed).then(
            h.refresh_filters, None, [kind, publisher])
        replace_btn.click(h.replace_document, [managed, new_version, remove_old, password], manage_result,
                          api_name="replace_document").then(h.library_html, None, table).then(
            h.document_choices, None, managed)
        audit_btn.click(h.audit_html, [password], audit_table, api_name="audit")
        app.load(h.document_choices, None, managed, api_visibility="private")
        app.load(h.library_html, None, table, api_visibility="private").then(
            h.refresh_filters, None, [kind, publisher], api_visibility="private")
    return app


def _shown(value: Any) -> bool:
    return value not in (None, "", 0, "0", "None")


def _when(iso: str) -> str:
    """An ISO time as German readers write it (02.12.2026 20:54), in UTC as stored."""
    try:
        return datetime.fromisoformat(iso).strftime("%d.%m.%Y %H:%M")
    except ValueError:
        return iso


def _rights(request: gr.Request | None) -> Rights | None:
    """What the caller may read, as the server's access gate wrote it into the request (RIGHTS_HEADER);
    a handler called without a request (a test, a script around ChatHandlers) reads everything."""
    if request is None:
        return None
    return rights_of_headers(getattr(request, "headers", None))


def _admin(settings: Any, password: str, request: gr.Request | None) -> tuple[bool, str]:
    """May this caller administer documents: a named user or token with the admin right, or whoever
    types the administrator password (faces/upload.py)."""
    rights = _rights(request)
    if rights is not None and rights.admin and rights.who.startswith(("user:", "token:")):
        return True, ""
    return admin_allowed(settings, password)


def _actor(request: gr.Request | None) -> str:
    """Who the audit log names for a Verwaltung action: the token or user, else the browser session."""
    rights = _rights(request)
    return (rights.who if rights is not None else "") or _session(request)


def _session(request: gr.Request | None) -> str:
    """Whose questions these are, for the rate limit: the token or login the server's access gate
    identified (access.IDENTITY_HEADER), else the browser session."""
    if request is None:
        return "anonymous"
    who = (getattr(request, "headers", None) or {}).get(IDENTITY_HEADER.decode(), "")
    if who and not who.startswith("client:"):
        return who
    return getattr(request, "session_hash", None) or "anonymous"


def theme() -> gr.themes.Base:
    """System fonts only: the default theme would make every browser fetch fonts from Google."""
    return gr.themes.Default(font=["system-ui", "Segoe UI", "Arial", "sans-serif"],
                             font_mono=["ui-monospace", "Consolas", "monospace"])
