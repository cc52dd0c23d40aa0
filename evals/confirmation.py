"""Evaluate the affirm/deny/other classifier on held-out answers.

`python -m evals.confirmation [FILE.jsonl]` prints accuracy, per-label precision and
recall, and how many denials were read as a yes (which must be none: a "no" must never
make a write). The default file, `evals/data/confirmations_holdout.jsonl`, is written
apart from the training data and never trained on.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from local_model.confirmation import ANSWERS, classify_answer, load_answers

HOLDOUT_PATH = Path(__file__).parent / "data" / "confirmations_holdout.jsonl"
"""Held-out answers of our own, `{"text", "label"}` per line."""


@dataclass(frozen=True)
class ConfirmationReport:
    """Scores on one file: accuracy, per-label precision/recall (0-1), and mistakes."""

    size: int
    accuracy: float
    precision: dict[str, float]
    recall: dict[str, float]
    deny_read_as_affirm: list[str]
    """Texts labelled `deny` that the classifier read as `affirm`."""
    mistakes: list[tuple[str, str, str]]
    """(text, expected, predicted) of every wrong answer."""


def evaluate(path: Path | str = HOLDOUT_PATH) -> ConfirmationReport:
    """Classify every answer in `path` and score it.

    Raises:
        ValueError: the file is malformed (see `load_answers`).
        OSError: the file cannot be read.
    """
    texts, expected = load_answers(path)
    predicted = [classify_answer(text).label for text in texts]
    precision, recall, _, _ = precision_recall_fscore_support(
        expected, predicted, labels=list(ANSWERS), zero_division=0
    )
    rows = list(zip(texts, expected, predicted, strict=True))
    return ConfirmationReport(
        size=len(texts),
        accuracy=float(accuracy_score(expected, predicted)),
        precision={a: float(p) for a, p in zip(ANSWERS, precision, strict=True)},
        recall={a: float(r) for a, r in zip(ANSWERS, recall, strict=True)},
        deny_read_as_affirm=[t for t, e, p in rows if e == "deny" and p == "affirm"],
        mistakes=[(t, e, p) for t, e, p in rows if e != p],
    )


def render(report: ConfirmationReport) -> str:
    """The report as text: accuracy, a precision/recall line per label, the mistakes."""
    lines = [f"answers: {report.size}", f"accuracy: {report.accuracy:.3f}"]
    for label in ANSWERS:
        lines.append(
            f"{label:>6}: precision {report.precision[label]:.3f}  "
            f"recall {report.recall[label]:.3f}"
        )
    lines.append(f"deny read as affirm: {len(report.deny_read_as_affirm)}")
    lines.extend(f"  wrong: {t!r} expected {e}, got {p}" for t, e, p in report.mistakes)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the evaluation of the file named in `argv` (default: the held-out set)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        report = evaluate(args[0] if args else HOLDOUT_PATH)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
