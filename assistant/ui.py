"""Gradio chat (German UI): answers on the left, the cited passages beside them. A thin layer
over Assistant.ask — it builds nothing and stores nothing itself."""
from __future__ import annotations

import html
import os
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no outbound calls

import gradio as gr  # noqa: E402

from assistant.types import Answer, Citation  # noqa: E402

STARTERS = [
    "Wie starte ich eine Städtepartnerschaft? Wer unterstützt uns?",
    "Was fordert der Deutsche Städtetag zur Städtediplomatie?",
    "Welche Angebote hat die SKEW für migrantische Organisationen?",
    "Welche Schwerpunkte haben die vom BMZ geförderten kommunalen Partnerschaften?",
]

_CSS = """
.kepol-src {border-left: 4px solid #1f5aa6; padding: 0.4em 0.8em; margin: 0.6em 0; background: #f5f8fc;
  color: #111;}
.kepol-src mark {background: #ffe58a; color: #111;}
.kepol-src .meta {font-size: 0.9em; color: #333;}
.kepol-src details {margin-top: 0.3em;}
"""


def sources_html(answer: Answer | None) -> str:
    """Citations as escaped HTML: document text never becomes markup or script."""
    if answer is None:
        return "<p>Hier erscheinen die Belegstellen zur Antwort.</p>"
    if not answer.citations:
        return "<p>Keine Belegstellen – die Dokumente enthalten dazu keine Angabe.</p>"
    return "\n".join(_citation_html(c) for c in answer.citations)


def _citation_html(c: Citation) -> str:
    page = f", S. {c.page}" if c.page else ""
    start = c.passage.find(c.quote)
    if start >= 0:
        context = (html.escape(c.passage[:start]) + "<mark>" + html.escape(c.quote) + "</mark>"
                   + html.escape(c.passage[start + len(c.quote):]))
    else:
        context = html.escape(c.passage)
    return (f'<div class="kepol-src"><div class="meta"><b>[{c.n}] {html.escape(c.title)}</b>'
            f"{html.escape(page)} · {html.escape(c.kind or '')} · {html.escape(c.source)}</div>"
            f"<blockquote>„{html.escape(c.quote)}“</blockquote>"
            f"<details><summary>Ganze Passage anzeigen</summary><p>{context}</p></details></div>")


def answer_markdown(answer: Answer) -> str:
    """Answer text for the chat bubble; HTML-escaped so document text cannot inject markup."""
    text = html.escape(answer.answer, quote=False)
    if answer.notice:  # e.g. the language model failed and the extractive answer stands in
        text += "\n\n*Hinweis: " + html.escape(answer.notice, quote=False) + "*"
    return text


def create_app(assistant: Any) -> gr.Blocks:
    """Build the Blocks app around one Assistant (tests pass one with a temp-dir index)."""

    def respond(message: str, chat: list[dict[str, str]], turns: list[str]):
        message = (message or "").strip()
        if not message:
            return "", chat, turns, sources_html(None)
        ans = assistant.ask(message, history=list(turns))
        chat = list(chat) + [{"role": "user", "content": html.escape(message, quote=False)},
                             {"role": "assistant", "content": answer_markdown(ans)}]
        return "", chat, list(turns) + [message], sources_html(ans)

    def ask_json(question: str, history: list[str] | None = None) -> dict[str, Any]:
        """Programmatic endpoint: the same JSON contract as `kepol ask --json`."""
        return assistant.ask(question or "", history=list(history or [])).to_contract()

    def reset():
        return [], [], sources_html(None), ""

    with gr.Blocks(title="KEPol-Assistent", analytics_enabled=False) as app:
        gr.Markdown("## KEPol-Assistent\nFragen zur kommunalen Entwicklungspolitik – jede Antwort mit Belegstellen.")
        turns = gr.State([])
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Gespräch", height=460, sanitize_html=True)
                box = gr.Textbox(label="Ihre Frage", placeholder="z. B. Welche Angebote hat die SKEW?",
                                 lines=1, max_lines=4, autofocus=True)
                with gr.Row():
                    send = gr.Button("Fragen", variant="primary")
                    new = gr.Button("Neues Gespräch")
                gr.Examples(STARTERS, inputs=box, label="Beispielfragen")
            with gr.Column(scale=2):
                gr.Markdown("### Belegstellen")
                sources = gr.HTML(sources_html(None))
        send.click(respond, [box, chat, turns], [box, chat, turns, sources], api_name="chat")
        box.submit(respond, [box, chat, turns], [box, chat, turns, sources], api_name=False)
        new.click(reset, None, [chat, turns, sources, box], api_name="reset")
        hidden_q = gr.Textbox(visible=False)
        hidden_h = gr.JSON(visible=False)
        hidden_out = gr.JSON(visible=False)
        hidden_q.submit(ask_json, [hidden_q, hidden_h], hidden_out, api_name="ask")
    return app


def launch(assistant: Any, host: str, port: int, block: bool = True) -> gr.Blocks:
    """Start the server; binds to 127.0.0.1 unless told otherwise, never creates a share link."""
    app = create_app(assistant)
    app.queue(default_concurrency_limit=2)
    app.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=not block,
               inbrowser=False, show_error=True, css=_CSS)
    return app
