"""Knowledge-base retrieval evaluation: does search return the article that answers?

The labelled questions (`evals/data/retrieval.jsonl`, one JSON object a line:
`{"question": "...", "expected": "KB-014"}` or `"expected": "none"` for a question the
knowledge base does not answer) are run through `tools.knowledge_base.search_articles`
on a fresh CRM database holding the shipped articles, with the production threshold.

Figures:

- hit@1: share of answerable questions whose first result is the expected article;
- hit@3: share whose expected article is among the first three results;
- none->article: share of "none" questions that still get an article (lower is better).

Usage::

    python -m evals.retrieval [FILE.jsonl] [--json]
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from storage.crm_database import connect
from tools.knowledge_base import search_articles

DEFAULT_DATA = Path(__file__).resolve().parent / "data" / "retrieval.jsonl"
"""The shipped labelled questions."""

NONE = "none"
"""Expected value of a question no article answers."""


class RetrievalCase(BaseModel):
    """One labelled question."""

    question: str
    expected: str = Field(description="Article ID such as KB-014, or 'none'.")


class RetrievalMiss(BaseModel):
    """A question whose first result was not the expected one."""

    question: str
    expected: str
    got: list[str] = Field(description="IDs returned, best first (at most 3).")


class RetrievalReport(BaseModel):
    """Figures of one evaluation run; rates are fractions in 0..1."""

    questions: int
    answerable: int
    unanswerable: int
    hit_at_1: float
    hit_at_3: float
    none_to_article: float = Field(description="Share of 'none' questions given an article.")
    misses: list[RetrievalMiss]


def load_cases(path: str | Path) -> list[RetrievalCase]:
    """Read labelled questions from a JSON-lines file (blank lines skipped).

    Raises:
        ValueError: for a line that is not a JSON object with `question` and `expected`
            (the message names the line number).
        OSError: when the file cannot be read.
    """
    cases: list[RetrievalCase] = []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            case = RetrievalCase.model_validate_json(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: not a retrieval case ({exc})") from exc
        cases.append(case.model_copy(update={"expected": case.expected.strip().upper()}))
    return cases


def evaluate(cases: Sequence[RetrievalCase]) -> RetrievalReport:
    """Search every question on a fresh database with the shipped knowledge base."""
    with tempfile.TemporaryDirectory() as folder:
        conn = connect(Path(folder) / "crm.sqlite")
        try:
            results = [[a.id for a in search_articles(conn, c.question, limit=3)] for c in cases]
        finally:
            conn.close()
    answerable = [(c, r) for c, r in zip(cases, results, strict=True) if c.expected != "NONE"]
    unanswerable = [(c, r) for c, r in zip(cases, results, strict=True) if c.expected == "NONE"]
    misses = [
        RetrievalMiss(question=c.question, expected=c.expected.lower(), got=r)
        for c, r in answerable
        if r[:1] != [c.expected]
    ] + [RetrievalMiss(question=c.question, expected=NONE, got=r) for c, r in unanswerable if r]
    return RetrievalReport(
        questions=len(cases),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        hit_at_1=_share(sum(r[:1] == [c.expected] for c, r in answerable), len(answerable)),
        hit_at_3=_share(sum(c.expected in r[:3] for c, r in answerable), len(answerable)),
        none_to_article=_share(sum(bool(r) for _, r in unanswerable), len(unanswerable)),
        misses=misses,
    )


def _share(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def render(report: RetrievalReport) -> str:
    """The report as plain text: the three figures, then every miss."""
    lines = [
        f"questions: {report.questions} ({report.answerable} answerable, "
        f"{report.unanswerable} with no article)",
        f"hit@1: {report.hit_at_1:.3f}",
        f"hit@3: {report.hit_at_3:.3f}",
        f"none->article: {report.none_to_article:.3f}",
    ]
    for miss in report.misses:
        lines.append(
            f"  miss: {miss.question!r} expected {miss.expected}, got {miss.got or 'nothing'}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: `python -m evals.retrieval [FILE.jsonl] [--json]`; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    paths = [a for a in args if a != "--json"]
    try:
        cases = load_cases(paths[0] if paths else DEFAULT_DATA)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = evaluate(cases)
    print(json.dumps(report.model_dump(), indent=2) if as_json else render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
