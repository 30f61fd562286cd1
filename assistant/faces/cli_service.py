"""`kepol token …` and `kepol mcp`: the command-line side of the service doors (faces/server.py)."""
from __future__ import annotations

import sys

import click

from assistant.core.rights import Rights, collection_names
from assistant.core.settings import Settings
from assistant.faces.tokens import TokenStore
from assistant.faces.users import UserStore


def _tokens(ctx: click.Context) -> TokenStore:
    settings: Settings = ctx.obj["settings"]
    return TokenStore(settings.store.data_dir / "tokens.json")


@click.group()
def token() -> None:
    """API tokens for the REST, OpenAI-compatible and MCP doors (stored hashed)."""


@token.command("create")
@click.option("--name", required=True, help="Who or what uses it, e.g. \"open-webui\".")
@click.option("--upload", is_flag=True, help="May also upload documents (POST /api/v1/documents).")
@click.option("--collections", default="", metavar="A,B",
              help="Collections it may read (default: öffentlich), e.g. öffentlich,rat-intern.")
@click.pass_context
def token_create(ctx: click.Context, name: str, upload: bool, collections: str) -> None:
    """Create a token; it is printed once and stored only as a hash."""
    store = _tokens(ctx)
    secret = store.create(name, upload, collection_names(collections))
    readable = ", ".join(sorted(next(t for t in store.tokens() if t.name == name and t.active).rights.collections or ()))
    click.echo(secret)
    click.echo(f"Token „{name}“ angelegt{' (darf hochladen)' if upload else ''}, liest: {readable}. Es wird nur "
               "jetzt angezeigt: bitte sicher aufbewahren. / Shown only now: keep it safe.", err=True)


@token.command("list")
@click.pass_context
def token_list(ctx: click.Context) -> None:
    """Names, rights and dates of the tokens (never the tokens themselves)."""
    rows = _tokens(ctx).tokens()
    if not rows:
        click.echo("Keine Tokens. / No tokens (the doors are open on 127.0.0.1 only).")
    for t in rows:
        state = f"widerrufen {t.revoked_at}" if t.revoked_at else "aktiv"
        readable = ",".join(sorted(t.rights.collections or ()))
        click.echo(f"{t.name}\t{'upload' if t.upload else 'read'}\t{readable}\t{t.created_at}\t{state}")


@token.command("revoke")
@click.argument("name")
@click.pass_context
def token_revoke(ctx: click.Context, name: str) -> None:
    """Revoke the active token NAME (it stops working at once)."""
    if not _tokens(ctx).revoke(name):
        raise click.ClickException(f"no active token named {name!r} (see `kepol token list`)")
    click.echo(f"Token „{name}“ widerrufen. / revoked.")


def _users(ctx: click.Context) -> UserStore:
    settings: Settings = ctx.obj["settings"]
    return UserStore(settings.store.data_dir / "users.json")


@click.group()
def user() -> None:
    """Named users of the chat, each with the collections it may read (passwords stored as scrypt hashes)."""


@user.command("add")
@click.argument("name")
@click.option("--collections", default="", metavar="A,B", help="Collections the user reads (default: öffentlich).")
@click.option("--admin", is_flag=True, help="May upload, delete and edit documents.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
@click.pass_context
def user_add(ctx: click.Context, name: str, collections: str, admin: bool, password_stdin: bool) -> None:
    """Add user NAME (or give an existing one a new password and rights)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = str(click.prompt("Passwort / password", hide_input=True, confirmation_prompt=True))
    u = _users(ctx).add(name, password, collection_names(collections), admin)
    click.echo(f"Benutzer „{u.name}“ liest: {', '.join(sorted(u.rights.collections or ()))}"
               f"{'; Administrator' if u.admin else ''}. / user saved.", err=True)


@user.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """Names and rights of the users (never their passwords)."""
    for u in _users(ctx).users():
        click.echo(f"{u.name}\t{'admin' if u.admin else 'read'}\t{','.join(sorted(u.rights.collections or ()))}"
                   f"\t{u.created_at}")


@user.command("remove")
@click.argument("name")
@click.pass_context
def user_remove(ctx: click.Context, name: str) -> None:
    """Remove user NAME (a browser logged in as NAME keeps its session until it logs out or the server restarts)."""
    if not _users(ctx).remove(name):
        raise click.ClickException(f"no user named {name!r} (see `kepol user list`)")
    click.echo(f"Benutzer „{name}“ entfernt. / removed.")


@click.command()
@click.option("--read-only", is_flag=True, help="Only search, ask and list; no add_documents tool.")
@click.option("--collections", default=None, metavar="A,B",
              help="Read only these collections, read-only (default: every collection, as the machine's user).")
@click.pass_context
def mcp(ctx: click.Context, read_only: bool, collections: str | None) -> None:
    """Serve the MCP tools over stdio (for desktop MCP clients)."""
    from assistant.api import Assistant
    from assistant.faces.mcp_door import build

    local = None if collections is None else Rights(collection_names(collections), who="mcp-stdio")
    a = Assistant(ctx.obj["settings"])
    a.warm_up()
    build(a, read_only=read_only or local is not None, local=local).run("stdio")
