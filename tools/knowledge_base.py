"""Knowledge-base articles: Markdown loader and search.

Article files are Markdown with a front-matter header between `---` lines::

    ---
    id: KB-001
    title: Exporting data to CSV
    department: faq
    tags: [export, csv]
    ---
    A short intro paragraph.

    1. First step.
    2. Second step.

Search ranks articles with scikit-learn TF-IDF (`tools.kb_ranking`) and returns only those
above a relevance threshold. `build_match_query` turns free text into a safe SQLite FTS5
expression of quoted terms; the ranking does not use it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel, Field

from storage.crm_types import CrmConnection, CrmRow
from tools.kb_ranking import RELEVANCE_THRESHOLD, RankedIndex, relevant

_STEP = re.compile(r"^\s*(\d+)[.)]\s+(.*\S)\s*$")
_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_STATUS_CODE = re.compile(r"^([45])\d\d$")

STOP_WORDS = frozenset(
    """a about above after again all am an and any are as at be because been before being
    but by can cannot could did do does doing don't during each few for from get gets
    getting got had has have having he her here hers him his how i i'm if in into is isn't
    it it's its just keep keeps kept me more most my myself no nor not now of off on once
    only or other our ours out over own please same she should since so some still such
    than that the their theirs them then there these they this those through to too
    today under until up us very was we were what when where which while who why will
    with won't would you your yours yesterday morning tonight hi hello hey thanks thank
    want wanted need needs trying try tried help""".split()  # noqa: SIM905
)
"""Words ignored in search queries: they match everything and rank nothing."""

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "login": ("log", "sign", "signin"),
    "signin": ("sign", "login"),
    "password": ("reset", "login"),
    "2fa": ("two", "factor", "authenticator"),
    "sso": ("saml", "okta"),
    "down": ("outage",),
    "outage": ("status", "degraded"),
    "invoice": ("invoices", "billing"),
    "cancel": ("cancellation",),
    "refund": ("refunds",),
}
"""Extra terms added when a query word appears (all OR-ed, so they only widen recall)."""


class Article(BaseModel):
    """One knowledge-base article, optionally with its search score."""

    id: str = Field(description="Article ID such as `KB-012`.")
    title: str
    department: str = Field(description="technical, billing, refund, sales or faq.")
    tags: list[str] = Field(default_factory=list)
    body: str = Field(description="Markdown body without the front matter.")
    steps: list[str] = Field(default_factory=list, description="Numbered steps, in order.")
    score: float = Field(default=0.0, description="Search relevance; higher is better.")

    @property
    def summary(self) -> str:
        """First paragraph of the body that is neither a heading nor a step, at most 300 chars."""
        for block in re.split(r"\n\s*\n", self.body):
            text = " ".join(line.strip() for line in block.strip().splitlines())
            if text and not text.startswith("#") and not _STEP.match(text):
                return text if len(text) <= 300 else text[:297].rstrip() + "..."
        return self.title


def _parse_value(raw: str) -> str | list[str]:
    value = raw.strip()
    if value.startswith("[") and value.endswith("]"):
        return [item.strip().strip("'\"") for item in value[1:-1].split(",") if item.strip()]
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def parse_article(text: str, *, source: str = "<text>") -> Article:
    """Parse one Markdown article with front matter into an `Article`.

    Steps are the lines that start with `1.` / `1)` etc., in order; an indented line right
    after a step continues it.

    Raises:
        ValueError: if the front matter is missing or lacks `id` or `title` (names `source`).
    """
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise ValueError(f"{source}: missing front matter")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise ValueError(f"{source}: front matter is not closed with ---") from None
    meta: dict[str, str | list[str]] = {}
    for line in lines[1:end]:
        if ":" in line and not line.lstrip().startswith("#"):
            key, _, raw = line.partition(":")
            meta[key.strip().lower()] = _parse_value(raw)
    for required in ("id", "title"):
        if not isinstance(meta.get(required), str) or not meta[required]:
            raise ValueError(f"{source}: front matter needs {required!r}")
    body_lines = lines[end + 1 :]
    steps: list[str] = []
    previous_was_step = False
    for line in body_lines:
        match = _STEP.match(line)
        if match:
            steps.append(match.group(2).strip())
            previous_was_step = True
        elif previous_was_step and line.startswith((" ", "\t")) and line.strip():
            steps[-1] = f"{steps[-1]} {line.strip()}"
        else:
            previous_was_step = False
    tags = meta.get("tags", [])
    department = meta.get("department", "faq")
    return Article(
        id=str(meta["id"]).strip().upper(),
        title=str(meta["title"]).strip(),
        department=str(department).strip().lower() or "faq",
        tags=[tags] if isinstance(tags, str) else list(tags),
        body="\n".join(body_lines).strip(),
        steps=steps,
    )


def load_articles(conn: CrmConnection, folder: str | Path) -> int:
    """Replace the knowledge base with the `*.md` articles in `folder`; return how many.

    A missing folder loads nothing (and empties the knowledge base). Runs inside the
    caller's transaction when there is one.

    Raises:
        ValueError: if an article cannot be parsed, or two articles share an ID.
    """
    directory = Path(folder)
    files = sorted(directory.glob("*.md")) if directory.is_dir() else []
    articles = [parse_article(f.read_text(encoding="utf-8"), source=str(f)) for f in files]
    seen: set[str] = set()
    for article in articles:
        if article.id in seen:
            raise ValueError(f"Duplicate knowledge-base article ID {article.id}")
        seen.add(article.id)
    conn.execute("DELETE FROM kb_articles")
    for article in articles:
        conn.execute(
            "INSERT INTO kb_articles (id, title, department, tags, body, steps) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                article.id,
                article.title,
                article.department,
                json.dumps(article.tags),
                article.body,
                json.dumps(article.steps),
            ),
        )
    return len(articles)


def query_terms(text: str) -> list[str]:
    """Return the search terms of free text: lower-case words minus stop words, plus synonyms.

    HTTP status codes gain their class (`500` -> `5xx`). Order is kept, duplicates dropped.
    """
    terms: list[str] = []
    for word in _WORD.findall(text.lower().replace("-", " ")):
        word = word.replace("’", "'")
        if word in STOP_WORDS or len(word) < 2:
            continue
        candidates = [word.split("'")[0]]
        code = _STATUS_CODE.match(word)
        if code:
            candidates.append(f"{code.group(1)}xx")
        candidates.extend(_SYNONYMS.get(word, ()))
        terms.extend(c for c in candidates if c and c not in terms)
    return terms


def build_match_query(text: str) -> str | None:
    """Return an FTS5 MATCH expression for free text, or None when no term is left.

    Each term is double-quoted (so `"`, `*`, `:`, `(`, `-` or `AND` in the text are
    plain words) and terms are joined with OR.
    """
    terms = query_terms(text)
    if not terms:
        return None
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def _article(row: CrmRow, score: float = 0.0) -> Article:
    return Article(
        id=row["id"],
        title=row["title"],
        department=row["department"],
        tags=json.loads(row["tags"]),
        body=row["body"],
        steps=json.loads(row["steps"]),
        score=score,
    )


_INDEX_CACHE: dict[int, RankedIndex] = {}
"""Ranking indexes by knowledge-base fingerprint (articles change only on reload)."""


def _index_for(articles: list[Article]) -> RankedIndex:
    fingerprint = hash(tuple((a.id, a.title, tuple(a.tags), a.body) for a in articles))
    index = _INDEX_CACHE.get(fingerprint)
    if index is None:
        if len(_INDEX_CACHE) > 8:
            _INDEX_CACHE.clear()
        index = _INDEX_CACHE[fingerprint] = RankedIndex.build(articles)
    return index


def search_articles(
    conn: CrmConnection,
    query: str,
    limit: int = 3,
    department: str | None = None,
    min_score: float = RELEVANCE_THRESHOLD,
) -> list[Article]:
    """Return up to `limit` articles that answer free-text `query`, best first.

    Ranking is TF-IDF over words and character n-grams (`tools.kb_ranking`); an article
    scoring below `min_score` is left out (unless it is the best and clearly leads, see
    `tools.kb_ranking.relevant`), so a question the knowledge base does not cover
    gets an empty list rather than an unrelated article.

    Args:
        query: customer wording; any punctuation is fine.
        limit: most articles returned (at least 1).
        department: keep only articles of this department.
        min_score: lowest relevance (0..1) returned; `RELEVANCE_THRESHOLD` by default.

    Returns:
        Articles with `score` in 0..1 (higher is better); empty when nothing is relevant
        enough, the query has only stop words, or the knowledge base is empty.
    """
    articles = list_articles(conn)
    if not articles or not query.strip():
        return []
    by_id = {a.id: a for a in articles}
    wanted = department.strip().lower() if department else None
    found: list[Article] = []
    for article_id, score in relevant(_index_for(articles).rank(query), min_score):
        article = by_id[article_id]
        if len(found) >= max(1, limit):
            break
        if wanted is None or article.department == wanted:
            found.append(article.model_copy(update={"score": round(score, 4)}))
    return found


def get_article(conn: CrmConnection, article_id: str) -> Article | None:
    """Return the article with ID `article_id` (case-insensitive), or None."""
    row = conn.execute(
        "SELECT * FROM kb_articles WHERE id = ?", (article_id.strip().upper(),)
    ).fetchone()
    return None if row is None else _article(row)


def list_articles(conn: CrmConnection) -> list[Article]:
    """Return every article ordered by ID."""
    return [_article(row) for row in conn.execute("SELECT * FROM kb_articles ORDER BY id")]
