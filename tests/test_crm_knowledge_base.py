"""Knowledge-base loading and search, and service status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.crm_database import KB_DIR, STATUS_FIXTURE, connect
from storage.crm_types import CrmConnection
from tools.knowledge_base import (
    build_match_query,
    get_article,
    load_articles,
    parse_article,
    search_articles,
)
from tools.service_status import get_status, load_status, set_status

ARTICLES = {
    "errors.md": """---
id: KB-101
title: Fixing 500 and 503 errors from the API
department: technical
tags: [api, errors, 5xx]
---
A 5xx response means the request failed on the server side.

1. Check the status page.
2. Retry with exponential backoff,
   up to five times.
3. Contact support with the request ID.

Still failing? Open a ticket.
""",
    "csv.md": """---
id: kb-102
title: "Exporting data to CSV"
department: faq
tags: [export, csv, download]
---
Any chart can be downloaded as a CSV file.

1) Open the dashboard.
2) Choose Export, then CSV.
""",
    "refunds.md": """---
id: KB-103
title: Refund policy
department: refund
tags: [refund, money back]
---
How refunds work.

1. Ask in chat.
""",
}


@pytest.fixture()
def kb_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "kb"
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture()
def conn(crm_target: str | Path, kb_dir: Path) -> Iterator[CrmConnection]:
    """The CRM on each database (`crm_target`), with the test articles."""
    connection = connect(crm_target, kb_dir=kb_dir)
    yield connection
    connection.close()


def test_parse_article_front_matter_and_steps() -> None:
    article = parse_article(ARTICLES["errors.md"])
    assert (article.id, article.department) == ("KB-101", "technical")
    assert article.title == "Fixing 500 and 503 errors from the API"
    assert article.tags == ["api", "errors", "5xx"]
    assert article.steps == [
        "Check the status page.",
        "Retry with exponential backoff, up to five times.",
        "Contact support with the request ID.",
    ]
    assert article.summary == "A 5xx response means the request failed on the server side."
    csv = parse_article(ARTICLES["csv.md"])
    assert (csv.id, csv.title) == ("KB-102", "Exporting data to CSV")
    assert csv.steps == ["Open the dashboard.", "Choose Export, then CSV."]


def test_bad_articles_are_rejected(tmp_path: Path, conn: CrmConnection) -> None:
    with pytest.raises(ValueError, match="front matter"):
        parse_article("no header here")
    with pytest.raises(ValueError, match="'id'"):
        parse_article("---\ntitle: x\n---\nbody")
    folder = tmp_path / "dupes"
    folder.mkdir()
    (folder / "a.md").write_text(ARTICLES["csv.md"])
    (folder / "b.md").write_text(ARTICLES["csv.md"])
    with pytest.raises(ValueError, match="Duplicate"):
        load_articles(conn, folder)


def test_search_finds_articles_from_customer_wording(conn: CrmConnection) -> None:
    found = search_articles(conn, "My API calls keep returning 500 errors since this morning")
    assert found[0].id == "KB-101"
    assert found[0].score > 0
    assert search_articles(conn, "How do I export my data to CSV?")[0].id == "KB-102"
    assert search_articles(conn, "refund", limit=1)[0].id == "KB-103"
    assert [
        a.id for a in search_articles(conn, "errors csv refund", department="faq", min_score=0)
    ] == ["KB-102"]


@pytest.mark.parametrize(
    "query",
    [
        'export "csv',
        "csv AND OR NOT",
        "csv*",
        "(csv)",
        "export: csv -",
        "NEAR(csv export)",
        "what's the csv export?!",
        "title:csv",
    ],
)
def test_search_survives_fts_syntax_in_queries(conn: CrmConnection, query: str) -> None:
    assert search_articles(conn, query)[0].id == "KB-102"


def test_queries_without_terms_return_nothing(conn: CrmConnection) -> None:
    assert search_articles(conn, "") == []
    assert search_articles(conn, "?!...") == []
    assert search_articles(conn, "how do I do it") == []
    assert build_match_query("how do I do it") is None
    assert build_match_query('say "hi" 500') == '"say" OR "500" OR "5xx"'


def test_get_article(conn: CrmConnection) -> None:
    article = get_article(conn, "kb-101")
    assert article is not None and article.title.startswith("Fixing 500")
    assert get_article(conn, "KB-999") is None


@pytest.mark.skipif(not list(KB_DIR.glob("*.md")), reason="project KB not written yet")
def test_project_knowledge_base_answers_the_standard_questions(tmp_path: Path) -> None:
    conn = connect(tmp_path / "crm.sqlite")
    try:
        top = search_articles(conn, "My API calls keep returning 500 errors since this morning")[0]
        assert "500" in top.title or "5xx" in top.tags
        assert top.department == "technical" and top.steps
        csv = search_articles(conn, "How do I export my data to CSV?")[0]
        assert "CSV" in csv.title
    finally:
        conn.close()


def test_service_status_loading_and_order(tmp_path: Path, conn: CrmConnection) -> None:
    status_file = tmp_path / "status.json"
    status_file.write_text(
        json.dumps(
            {
                "components": [
                    {"name": "Dashboards", "status": "operational", "message": "ok", "since": "t1"},
                    {"name": "Event API", "status": "degraded", "message": "5xx", "since": "t2"},
                    {"name": "Webhooks", "status": "outage", "message": "down", "since": "t3"},
                ]
            }
        )
    )
    assert load_status(conn, status_file) == 3
    statuses = get_status(conn)
    assert [(s.name, s.status) for s in statuses] == [
        ("Webhooks", "outage"),
        ("Event API", "degraded"),
        ("Dashboards", "operational"),
    ]
    assert [s.healthy for s in statuses] == [False, False, True]
    set_status(conn, "Webhooks", "operational", "fixed", "t4")
    assert get_status(conn)[0].name == "Event API"
    with pytest.raises(ValueError):
        set_status(conn, "Webhooks", "broken", "x", "t5")
    assert load_status(conn, tmp_path / "missing.json") == 0
    assert get_status(conn) == []
    status_file.write_text('{"components": [{"name": "X", "status": "melted"}]}')
    with pytest.raises(ValueError):
        load_status(conn, status_file)


@pytest.mark.skipif(not STATUS_FIXTURE.is_file(), reason="status fixture not written yet")
def test_project_status_fixture_loads(tmp_path: Path) -> None:
    expected = json.loads(STATUS_FIXTURE.read_text(encoding="utf-8"))["components"]
    conn = connect(tmp_path / "crm.sqlite")
    try:
        names = {s.name: s.status for s in get_status(conn)}
        assert names == {c["name"]: c["status"] for c in expected}
    finally:
        conn.close()
