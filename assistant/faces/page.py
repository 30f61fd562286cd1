"""The chat page in German whatever the browser's language. Gradio's own words (the upload box's
"Datei hier ablegen", "oder", the chat's buttons) come from its German translation, which its page
chooses by `navigator.language` before any of our settings reach it; so the page is served with a
first script that makes that language German. A rewrite of one HTML response, not of Gradio."""
from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

GERMAN = (b"<script>/* KEPol: German UI */(function(){var d=function(v){return{get:function(){return v},"
          b"configurable:true}};try{Object.defineProperty(Navigator.prototype,'language',d('de-DE'));"
          b"Object.defineProperty(Navigator.prototype,'languages',d(['de-DE','de']));}catch(e){}})();</script>")


class GermanPage:
    """Puts GERMAN first into the <head> of the app's page (GET /); every other response passes as is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or scope.get("path") != "/":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        parts: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                kind = dict(message.get("headers") or []).get(b"content-type", b"")
                if not kind.startswith(b"text/html"):
                    await send(message)
                    return
                start = message
                return
            if start is None:  # not the page: pass through
                await send(message)
                return
            parts.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(parts).replace(b"<head>", b"<head>" + GERMAN, 1)
            kept = [(k, v) for k, v in start.get("headers") or [] if k != b"content-length"]
            await send({**start, "headers": kept + [(b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, rewrite)
