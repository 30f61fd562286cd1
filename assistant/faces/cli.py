"""`kepol` command line: a thin click layer over the Assistant API; domain errors become messages here."""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from assistant.core.errors import KepolError
from assistant.core.rights import Rights, collection_names
from assistant.core.settings import Settings, StoreSettings
from assistant.core.types import KINDS, OCR_LABEL, LibraryFilter, kind_label, passage_contract


def _assistant(ctx: click.Context):
    from assistant.api import Assistant

    return Assistant(ctx.obj["settings"])


def _read_batch(path: Path) -> list[dict[str, Any]]:
    """JSONL lines {"id", "question", "history"}; a bad line names its number."""
    items = []
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise KepolError(f"{path}:{no}: not valid JSON ({exc.msg})", "one JSON object per line") from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("question"), str):
            raise KepolError(f"{path}:{no}: needs a string field \"question\"",
                             'example: {"id": 1, "question": "…", "history": []}')
        hist = obj.get("history") or []
        if not isinstance(hist, list) or not all(isinstance(h, str) for h in hist):
            raise KepolError(f"{path}:{no}: \"history\" must be a list of earlier user turns (strings)")
        items.append({"id": obj.get("id", no), "question": obj["question"], "history": hist})
    return items


def _emit(obj: dict[str, Any]) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False))


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a line is logged (a test runner swaps it per command)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _logging() -> None:
    """Our own progress lines (kepol.*, INFO: e.g. the one-off build of the ONNX graph) as plain lines
    on stderr; libraries only from WARNING on (their INFO and DEBUG chatter helps nobody here)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ours = logging.getLogger("kepol")
    if not any(isinstance(h, _Stderr) for h in ours.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        ours.addHandler(handler)
    ours.setLevel(logging.INFO)
    ours.propagate = False


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KepolError as exc:
            click.echo(f"Fehler: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.option("--data-dir", type=click.Path(path_type=Path), envvar="KEPOL_DATA_DIR",
              help="Where the index lives (default: $XDG_DATA_HOME/kepol).")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """KEPol-Assistent: cited answers about municipal development policy, offline."""
    _logging()
    ctx.obj = {"settings": Settings(store=StoreSettings(data_dir=data_dir)) if data_dir else Settings()}


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change without writing.")
@click.option("--strict", is_flag=True, help="Exit non-zero if any file was skipped.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--rebuild", is_flag=True, help="Discard the index and build it again (repairs a damaged one).")
@click.option("--collection", default=None, metavar="NAME",
              help="Put these documents into collection NAME (default: their metadata's, else öffentlich).")
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[Path, ...], dry_run: bool, strict: bool, quiet: bool,
           rebuild: bool, collection: str | None) -> None:
    """Ingest PATHS (files or folders; default: the bundled corpus/) into the index."""
    a = _assistant(ctx)
    report = a.ingest(list(paths) or None, progress=not quiet and sys.stderr.isatty(), dry_run=dry_run,
                      rebuild=rebuild, collection=collection, who=_who(), action="ingest")
    click.echo(report.summary())
    click.echo(f"Index: {a.settings.index_dir}", err=True)
    if report.set_aside:
        click.echo(f"The damaged vector store was moved to {report.set_aside}; delete it once the new index "
                   "answers as expected.", err=True)
    if report.cleanup_error:
        click.echo(f"Clean-up after the commit failed ({report.cleanup_error}); the next run retries it.", err=True)
    if (not report.usable and not dry_run) or (strict and report.by_status("skipped")):
        sys.exit(2)


def _filters(f: Any) -> Any:
    """--kind/--publisher/--year: restrict answers to part of the library (metadata filter)."""
    for opt in (click.option("--year", type=int, help="Only documents of this year."),
                click.option("--publisher", help="Only documents of this publisher (exact name, see `kepol docs`)."),
                click.option("--kind", type=click.Choice(list(KINDS)),
                             help="Only documents of this kind."),
                click.option("--include-superseded", is_flag=True,
                             help="Also search older versions of documents (marked as such)."),
                click.option("--collections", "collections", default=None, metavar="A,B",
                             help="Read only these collections, as a token or user with these rights would "
                                  "(default: every collection).")):
        f = opt(f)
    return f


@main.command()
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the stable contract).")
@click.option("--batch", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSONL file of {id, question, history}; prints one JSON object per line.")
@click.option("--history", multiple=True, help="An earlier user turn (repeatable, oldest first).")
@_filters
@click.pass_context
def ask(ctx: click.Context, question: str | None, as_json: bool, batch: Path | None, history: tuple[str, ...],
        kind: str | None, publisher: str | None, year: int | None, include_superseded: bool,
        collections: str | None) -> None:
    """Answer QUESTION with citations from the documents."""
    only = LibraryFilter(kind, publisher, year)
    rights = _rights(collections)
    a = _assistant(ctx)
    if batch:
        for item in _read_batch(batch):
            _emit(a.ask(item["question"], item["history"], only, include_superseded, rights).to_contract(item["id"]))
        return
    if not question:
        raise click.UsageError("give a QUESTION or --batch FILE")
    ans = a.ask(question, list(history), only, include_superseded, rights)
    if as_json:
        _emit(ans.to_contract())
        return
    click.echo(_styled(ans.answer, ans.emphasis))
    if ans.notice:
        click.echo(f"\nHinweis: {ans.notice}")
    for c in ans.citations:
        page = f", S. {c.page}" if c.page else ""
        notes = "".join(f" ({x})" for x in (OCR_LABEL if c.ocr else "", c.version_note) if x)
        click.echo(f"\n[{c.n}] {c.title}{page}{notes}\n    „{c.quote}“")


def _rights(collections: str | None) -> Rights | None:
    """--collections as rights (None: every collection, as the machine's owner sees it)."""
    return None if collections is None else Rights(collection_names(collections), who="cli")


def _styled(text: str, spans: tuple[tuple[int, int], ...]) -> str:
    """The answer with its emphasis spans in bold (click drops the style when not on a terminal)."""
    out, at = [], 0
    for a, e in sorted(spans):
        if at <= a < e <= len(text):
            out += [text[at:a], click.style(text[a:e], bold=True)]
            at = e
    return "".join(out) + text[at:]


@main.command()
@click.argument("question", required=False)
@click.option("--batch", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSONL file of {id, question, history}.")
@click.option("-k", "k", type=click.IntRange(1, 100), default=5, show_default=True, help="Passages per question.")
@_filters
@click.pass_context
def retrieve(ctx: click.Context, question: str | None, batch: Path | None, k: int, kind: str | None,
             publisher: str | None, year: int | None, include_superseded: bool, collections: str | None) -> None:
    """Print the top-k passages (JSON lines) for QUESTION or each line of --batch."""
    if not batch and not question:
        raise click.UsageError("give a QUESTION or --batch FILE")
    a = _assistant(ctx)
    items = _read_batch(batch) if batch else [{"id": None, "question": question, "history": []}]
    for item in items:
        passages = a.retrieve(item["question"], k=k, history=item["history"], only=LibraryFilter(kind, publisher, year),
                              include_superseded=include_superseded, rights=_rights(collections))
        _emit({"id": item["id"], "passages": [passage_contract(p, r) for r, p in enumerate(passages, start=1)]})


@main.command(name="eval")
@click.option("-k", "k", type=click.IntRange(1, 10), default=5, show_default=True, help="Cut-off for hit@k and recall@k.")
@click.option("--fast", is_flag=True, help="Only the questions marked fast (the CI subset).")
@click.option("--questions", "question_files", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              multiple=True, help="Question set(s) to run instead of ours plus the dev set (our format or the "
                                  "dev set's; repeatable).")
@click.option("--out", type=click.Path(path_type=Path), help="Report folder (default: evals/results/full|fast).")
@click.option("--no-baseline", is_flag=True, help="Skip the naive llama-index baseline.")
@click.option("--check", is_flag=True, help="Only check our question set (gold quotes, key facts, coverage).")
@click.option("--json", "as_json", is_flag=True, help="Print our overall figures per set as JSON.")
@click.pass_context
def eval_(ctx: click.Context, k: int, fast: bool, question_files: tuple[Path, ...], out: Path | None,
          no_baseline: bool, check: bool, as_json: bool) -> None:
    """Score the assistant (and the naive baseline and the untuned probe) on our question set and,
    beside this checkout, the independent dev set, XQuAD-de and the MLQA-de questions the reader held out;
    write report.md, metrics.json and plots."""
    from evals.check import check_questions
    from evals.harness import load_questions

    settings = ctx.obj["settings"]
    problems = check_questions(load_questions(), settings.store.corpus_dir)
    if problems:
        raise KepolError("the question set has problems:\n  " + "\n  ".join(problems),
                         "fix evals/questions.jsonl (gold quotes must stand verbatim in the cleaned documents)")
    if check:
        click.echo(f"question set OK: {len(load_questions())} questions")
        return
    from evals.report import LABELS, LEAD, MAIN
    from evals.run import evaluate_all

    a = _assistant(ctx)
    a.index.current().require_ready()
    sets = {f.stem: f for f in question_files} or None
    command = "kepol eval" + (" --fast" if fast else "") + (" --no-baseline" if no_baseline else "") + \
        "".join(f" --questions {f}" for f in question_files)
    ours, path = evaluate_all(a, fast=fast, k=k, out=out, with_baseline=not no_baseline, command=command, sets=sets)
    if as_json:
        click.echo(json.dumps({n: o["overall"] for n, o in ours.items()}, indent=1))
    else:
        keys = MAIN + [k for k in LEAD if k not in MAIN] + ["quote_validity", "latency_p50_ms", "latency_p95_ms"]
        click.echo(f"{'':>20}  " + "  ".join(f"{n:>8}" for n in ours))
        for key in keys:
            name = LABELS[key].replace("@5", f"@{k}") if key.endswith("@5") else LABELS[key]
            key = key.replace("@5", f"@{k}")
            click.echo(f"{name:>20}: " + "  ".join(f"{o['overall'][key]:>8.2f}" for o in ours.values()))
    click.echo(f"Report: {path}", err=True)


@main.group()
def feedback() -> None:
    """Ratings users gave to answers in the chat."""


@feedback.command(name="export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="CSV file (default: standard output).")
@click.pass_context
def feedback_export(ctx: click.Context, out: Path | None) -> None:
    """Export all feedback (question, answer, citations, rating, comment, settings hash) as CSV."""
    from assistant.feedback import FeedbackStore

    text = FeedbackStore(ctx.obj["settings"].feedback_file).export_csv()
    if out:
        out.write_text(text, encoding="utf-8")
        click.echo(f"{max(text.count(chr(10)) - 1, 0)} Einträge → {out}", err=True)
    else:
        click.echo(text, nl=False)


@main.command()
@click.option("--older-than", "older_than", type=float, default=None, metavar="DAYS",
              help="Only what is older than DAYS (default: everything).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def purge(ctx: click.Context, older_than: float | None, yes: bool) -> None:
    """Delete stored feedback (questions, answers, ratings, comments), exported conversations and audit log entries."""
    what = "all stored feedback, chat exports and audit log entries" if older_than is None else \
        f"feedback, chat exports and audit log entries older than {older_than:g} days"
    if not yes:
        click.confirm(f"Delete {what}?", abort=True)
    done = _assistant(ctx).purge(older_than)
    click.echo(f"deleted {done['feedback']} feedback entries, {done['exports']} chat exports and {done['audit']} "
               "audit log entries", err=True)


@main.group(invoke_without_command=True)
@click.pass_context
def docs(ctx: click.Context) -> None:
    """List the indexed documents with their collection (and OCR, lost pages and protection noted);
    `docs delete`, `docs edit` and `docs replace` manage them (written to the audit log)."""
    if ctx.invoked_subcommand is not None:
        return
    for row in _assistant(ctx).library():
        click.echo(f"{row['doc_id']:32} {row['collection']:14} {kind_label(row['kind']):17} {row['year'] or '':>4}  "
                   f"{row['title']}" + (f"\n{'':>71}{row['notes']}" if row["notes"] else ""))


@docs.command("delete")
@click.argument("doc_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def docs_delete(ctx: click.Context, doc_id: str, yes: bool) -> None:
    """Delete document DOC_ID: its chunks, keyword entries, stored upload and cached embeddings."""
    if not yes:
        click.confirm(f"Delete {doc_id} from the library?", abort=True)
    record = _assistant(ctx).delete_document(doc_id, who=_who())
    click.echo(f"„{record.title}“ ({doc_id}) gelöscht. / deleted.")


@docs.command("edit")
@click.argument("doc_id")
@click.option("--title")
@click.option("--kind", type=click.Choice(list(KINDS)))
@click.option("--publisher")
@click.option("--year", type=click.IntRange(1900, 2100))
@click.option("--collection")
@click.pass_context
def docs_edit(ctx: click.Context, doc_id: str, **fields: Any) -> None:
    """Change catalogue data of DOC_ID (a new title or publisher re-embeds its chunks: both are part of
    the embedded text; kind, year and collection do not)."""
    changes = {k: v for k, v in fields.items() if v is not None}
    if not changes:
        raise click.UsageError("name at least one of --title, --kind, --publisher, --year, --collection")
    done = _assistant(ctx).edit_document(doc_id, changes, who=_who())
    click.echo(f"{doc_id}: {', '.join(f'{k} = {v}' for k, v in changes.items())}"
               + (" (neu eingebettet / re-embedded)" if done.reembedded else ""))


@docs.command("replace")
@click.argument("doc_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--remove-old", is_flag=True, help="Delete the old version instead of keeping it as superseded.")
@click.pass_context
def docs_replace(ctx: click.Context, doc_id: str, file: Path, remove_old: bool) -> None:
    """FILE becomes the current version of DOC_ID (the old one is kept as superseded, or removed)."""
    report = _assistant(ctx).replace_document(doc_id, file, who=_who(), remove_old=remove_old)
    click.echo(report.summary())


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def audit(ctx: click.Context, as_json: bool) -> None:
    """Who uploaded, deleted, replaced or edited which document, and when (oldest first)."""
    from assistant.audit import AuditLog

    for e in AuditLog(ctx.obj["settings"].store.data_dir / "audit.jsonl").entries():
        click.echo(json.dumps(e, ensure_ascii=False) if as_json else
                   f"{e['at']}  {e['who']:20} {e['action']:8} {e['doc_id']:28} {e.get('collection', ''):12} "
                   f"{e.get('title', '')}")


def _who() -> str:
    """The command line's user in the audit log: the machine's login name."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@main.command()
@click.option("--host", default=None, help="Bind address (default 127.0.0.1: this machine only).")
@click.option("--port", type=int, default=None, help="Port (default 7860).")
@click.option("--ingest/--no-ingest", "do_ingest", default=True, show_default=True,
              help="Bring the index up to date with corpus/ before starting.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, do_ingest: bool) -> None:
    """Start the chat UI in the browser."""
    # Gradio reads this when it is imported: no analytics, no version check, no outbound call
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from assistant.faces.server import launch

    a = _assistant(ctx)
    if do_ingest:
        click.echo(a.ingest(progress=sys.stderr.isatty()).summary())
    a.warm_up()  # model, store and keyword index are loaded before the first visitor arrives
    if a.settings.privacy.retention_days > 0:  # data protection: expired feedback and exports go at every start
        a.purge(a.settings.privacy.retention_days)
    launch(a, host or a.settings.ui.host, port or a.settings.ui.port)


def _service_commands() -> None:
    from assistant.faces.cli_service import mcp, token, user

    main.add_command(token)
    main.add_command(user)
    main.add_command(mcp)


_service_commands()


if __name__ == "__main__":
    main()
