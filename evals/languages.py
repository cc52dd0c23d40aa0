"""Language-detection evaluation: run `detect_language` over messages of known language.

Usage: `python -m evals.languages [FILE.jsonl ...]` (default `evals/data/languages.jsonl`,
our own messages, one `{"text": str, "language": ISO 639-1 code}` per line).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from local_model.language import detect_language

LANGUAGE_SET = Path(__file__).parent / "data" / "languages.jsonl"
"""Our own messages in fourteen languages, short English follow-ups among them."""


@dataclass(frozen=True)
class LanguageReport:
    """Result of `evaluate_languages`: `accuracy` (0-1) over `n` messages, the mean time
    per message in milliseconds, and every `(text, expected, detected)` miss."""

    n: int
    accuracy: float
    mean_ms: float
    misses: list[tuple[str, str, str]]


def load_language_rows(path: Path | str = LANGUAGE_SET) -> list[tuple[str, str]]:
    """Read `(text, language)` pairs from a JSON Lines file.

    Raises:
        ValueError: a line is not a JSON object with string `text` and `language`; the
            message names the file and line.
    """
    rows: list[tuple[str, str]] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append((str(row["text"]), str(row["language"])))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}, line {number}: expected {{text, language}}") from exc
    return rows


def evaluate_languages(rows: Sequence[tuple[str, str]]) -> LanguageReport:
    """Detect the language of every `(text, expected)` row and score the result.

    Raises:
        ValueError: `rows` is empty.
    """
    if not rows:
        raise ValueError("no rows to evaluate")
    detect_language("a message to load the model first")
    started = time.perf_counter()
    detected = [detect_language(text) for text, _ in rows]
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    misses = [(t, want, got) for (t, want), got in zip(rows, detected, strict=True) if want != got]
    return LanguageReport(
        n=len(rows),
        accuracy=1 - len(misses) / len(rows),
        mean_ms=elapsed_ms / len(rows),
        misses=misses,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Print the accuracy on each file given (default `LANGUAGE_SET`); exit code 0."""
    paths: list[str | Path] = list(argv if argv is not None else sys.argv[1:])
    paths = paths or [LANGUAGE_SET]
    for path in paths:
        report = evaluate_languages(load_language_rows(path))
        print(
            f"{path}: accuracy {report.accuracy:.1%} on {report.n} messages, "
            f"{report.mean_ms:.3f} ms per message"
        )
        for text, want, got in report.misses:
            print(f"  {text!r}: expected {want}, detected {got}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
