"""Collections and rights at the bottom: a caller's view of the library holds only its collections, so a
document outside them cannot shape an answer, a refusal, a listing or a file route. The strongest check:
public callers of a library holding an internal canary get exactly what a library without it gives."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.api import Assistant
from assistant.core.rights import PUBLIC, CollectionNameError, Rights, collection_name, collection_names
from assistant.core.settings import Settings

PUBLIC_DOCS = {
    "partnerschaft.md": "# Leitfaden Städtepartnerschaften\n\nEine Städtepartnerschaft beginnt mit einem "
                        "Ratsbeschluss. Die Servicestelle berät Kommunen kostenlos bei der Suche nach einer "
                        "Partnerkommune.\n\nFür Projekte mit Partnerkommunen gibt es Fördermittel aus dem "
                        "Programm Nachhaltige Kommunalentwicklung. Anträge sind bis zum 30. September möglich.\n",
    "klima.md": "# Klimapartnerschaften\n\nKommunale Klimapartnerschaften verbinden Städte im Norden und Süden. "
                "Gemeinsam erarbeiten sie Handlungsprogramme für Klimaschutz und Anpassung.\n",
}
# the canary: a unique phrase and a unique fact, and a sentence that answers a public question better
CANARY_PHRASE = "Zitronenfalter-Protokoll"
CANARY = {
    "vorlage.md": f"# Vertrauliche Ratsvorlage {CANARY_PHRASE}\n\nDas {CANARY_PHRASE} sieht vor, dass die "
                  "Partnerschaft mit Quelimane ab 2027 mit 48.500 Euro jährlich gefördert wird.\n\n"
                  "Eine Städtepartnerschaft beginnt nach unserer internen Planung mit einem Ratsbeschluss "
                  "im Frühjahr und einer Delegationsreise nach Quelimane.\n",
}
INTERN = "rat-intern"
CANARY_QUESTIONS = [f"Was sieht das {CANARY_PHRASE} vor?",
                    "Mit wie viel Euro wird die Partnerschaft mit Quelimane gefördert?"]
PUBLIC_QUESTIONS = ["Wie beginnt eine Städtepartnerschaft?", "Bis wann sind Anträge auf Fördermittel möglich?",
                    "Was erarbeiten Klimapartnerschaften?", "Welche Dokumente gibt es?"]
SECRETS = (CANARY_PHRASE, "Quelimane", "48.500", "vorlage", "Ratsvorlage")
PUBLIC_ONLY = Rights(frozenset({PUBLIC}))  # a caller who may read the public collection alone


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def libraries(tmp_path_factory: pytest.TempPathFactory) -> tuple[Assistant, Assistant]:
    """(a library with the public documents and the canary in rat-intern, one with the public ones only)."""
    root = tmp_path_factory.mktemp("collections")
    public = _write(root / "public", PUBLIC_DOCS)
    intern = _write(root / "intern", CANARY)
    mixed = Assistant(Settings(data_dir=root / "mixed", corpus_dir=public, rate_limit_per_minute=0))
    assert mixed.ingest().usable
    report = mixed.ingest([intern], collection=INTERN)
    assert [r.status for r in report.results] == ["ingested"], report.summary()
    plain = Assistant(Settings(data_dir=root / "plain", corpus_dir=public, rate_limit_per_minute=0))
    assert plain.ingest().usable
    return mixed, plain


def _leaks(obj: object) -> list[str]:
    text = json.dumps(obj, ensure_ascii=False, default=str)
    return [s for s in SECRETS if s in text]


def test_public_callers_get_exactly_what_a_library_without_the_canary_gives(libraries):
    mixed, plain = libraries
    public = PUBLIC_ONLY
    for q in PUBLIC_QUESTIONS + CANARY_QUESTIONS:
        seen, alone = mixed.ask(q, rights=public), plain.ask(q)
        assert seen.to_contract() | {"latency_ms": 0} == alone.to_contract() | {"latency_ms": 0}, q
        assert not _leaks(seen.to_contract()), q
        assert [p.chunk_id for p in mixed.retrieve(q, k=10, rights=public)] == \
            [p.chunk_id for p in plain.retrieve(q, k=10)]
    # the public question the canary answers better: the public answer, not the canary's
    answer = mixed.ask("Wie beginnt eine Städtepartnerschaft?", rights=public)
    assert "Ratsbeschluss" in answer.answer and not _leaks(answer.to_contract())


def test_the_canary_is_refused_and_absent_from_every_listing_for_public_callers(libraries):
    mixed, _ = libraries
    public = PUBLIC_ONLY
    for q in CANARY_QUESTIONS:
        a = mixed.ask(q, rights=public)
        assert a.refused and not _leaks(a.to_contract()), a.answer
    assert not _leaks(mixed.library(public)) and not _leaks([d.__dict__ for d in mixed.documents(public)])
    canary_id = next(r["doc_id"] for r in mixed.library() if r["collection"] == INTERN)
    assert mixed.source_file(canary_id, public) is None and mixed.source_file(canary_id) is not None
    assert mixed.folders(public) == [str(Path(mixed.settings.store.corpus_dir))]


def test_granted_collections_answer_from_the_canary(libraries):
    mixed, _ = libraries
    rat = Rights(collection_names(f"{PUBLIC},{INTERN}"))
    a = mixed.ask(CANARY_QUESTIONS[1], rights=rat)
    assert not a.refused and "48.500 Euro" in a.answer and a.citations[0].doc_id.startswith("vorlage")
    assert {r["collection"] for r in mixed.library(rat)} == {PUBLIC, INTERN}
    only_intern = mixed.ask(PUBLIC_QUESTIONS[2], rights=Rights(frozenset({INTERN})))
    assert not any(c.doc_id in ("klima", "partnerschaft") for c in only_intern.citations)
    assert "Handlungsprogramme" not in json.dumps(only_intern.to_contract(), ensure_ascii=False)
    assert mixed.ask(CANARY_QUESTIONS[1]).citations  # the command line (no rights given) sees everything
    listed = mixed.ask("Welche Dokumente gibt es?", rights=rat)  # what the library holds: as the caller sees it
    assert listed.answer.startswith("Die Bibliothek umfasst 3 Dokumente:") and CANARY_PHRASE in listed.answer
    assert mixed.ask("Welche Dokumente gibt es?", rights=PUBLIC_ONLY).answer.startswith(
        "Die Bibliothek umfasst 2 Dokumente:")


def test_collection_names_are_checked_in_both_languages(tmp_path: Path):
    assert collection_names(" öffentlich , rat-intern ") == {"öffentlich", "rat-intern"}
    for bad in ("", "rat intern", "../etc", "a" * 41, "-rat", "rat;drop"):
        with pytest.raises(CollectionNameError) as e:
            collection_name(bad)
        assert "not allowed" in str(e.value) and "nicht erlaubt" in e.value.de
    a = Assistant(Settings(data_dir=tmp_path / "d", corpus_dir=tmp_path / "c"))
    with pytest.raises(CollectionNameError):
        a.ingest([tmp_path], collection="rat intern")


def test_a_collection_in_the_catalogue_and_a_bad_one_named_with_its_file(tmp_path: Path):
    folder = _write(tmp_path / "docs", {"a.md": "# A\n\nDer Kreis fördert Schulpartnerschaften mit Ghana.\n",
                                         "b.md": "# B\n\nDer Kreis unterstützt Fairtrade-Schulen.\n"})
    (folder / "metadata.json").write_text(json.dumps({"a.md": {"collection": INTERN},
                                                      "b.md": {"collection": "rat intern"}}), encoding="utf-8")
    a = Assistant(Settings(data_dir=tmp_path / "d", corpus_dir=folder))
    report = a.ingest()
    by_file = {Path(r.path).name: r for r in report.results}
    assert by_file["a.md"].status == "ingested"
    assert by_file["b.md"].status == "skipped" and "collection name 'rat intern'" in by_file["b.md"].reason
    assert [r["collection"] for r in a.library()] == [INTERN]


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=80))
def test_any_collection_name_is_accepted_or_refused_with_its_reason(name: str):
    try:
        assert collection_name(name) == name.strip() and 1 <= len(name.strip()) <= 40
    except CollectionNameError as e:
        assert "not allowed" in e.message and "nicht erlaubt" in e.de
    try:
        parsed = collection_names(name)
    except CollectionNameError:
        return
    assert all(1 <= len(c) <= 40 and not set(c) & set(" ,;/\\") for c in parsed)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=80))
def test_any_user_name_is_added_or_refused_with_its_reason(tmp_path: Path, name: str):
    from assistant.core.errors import KepolError
    from assistant.faces.users import UserStore

    store = UserStore(tmp_path / "users.json")
    try:
        user = store.add(name, "ein-langes-passwort")
    except KepolError as e:
        assert "not allowed" in e.message
        return
    assert store.check(name, "ein-langes-passwort") == user and store.check(name, "falsch") is None
