"""Routing evaluation: run triage over labelled messages and report accuracy and latency.

Usage from the command line (with no arguments, the public sets in `PUBLIC_DATA_DIR`)::

    python -m evals.routing ../shared/data/bitext/dev.jsonl ../shared/data/clinc_oos/oos_val.jsonl
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from graph.state import INTENTS, TriageDecision

if TYPE_CHECKING:
    from rich.console import Console


def _public_data_dir() -> Path:
    """`$SUPPORT_SWARM_PUBLIC_DATA`, else the nearest `shared/data` folder beside the
    project or one of its parent folders (a checkout may sit a level deeper)."""
    configured = os.environ.get("SUPPORT_SWARM_PUBLIC_DATA")
    if configured:
        return Path(configured)
    project = Path(__file__).resolve().parents[1]
    for parent in project.parents:
        if (parent / "shared" / "data").is_dir():
            return parent / "shared" / "data"
    return project.parent / "shared" / "data"


PUBLIC_DATA_DIR = _public_data_dir()
"""Public labelled sets (`../shared/data` next to the project, or `$SUPPORT_SWARM_PUBLIC_DATA`)."""

PUBLIC_SETS: tuple[str, ...] = (
    "bitext/dev.jsonl",
    "bitext/train.jsonl",
    "clinc_oos/oos_val.jsonl",
)
"""Files under `PUBLIC_DATA_DIR` evaluated by default; none of them is used for training."""

CLARIFIED = "clarify"
"""Predicted label recorded when triage asked a clarifying question (always counted wrong)."""


class LabelledMessage(BaseModel):
    """One evaluation row: a customer message and its expected department."""

    text: str
    label: str
    source: str = Field(default="", description="File and line the row came from.")


class IntentScores(BaseModel):
    """Precision and recall (0-1) of one label, with its number of true rows."""

    precision: float
    recall: float
    support: int


class RoutingReport(BaseModel):
    """Result of `evaluate_routing`.

    `accuracy` is the share (0-1) of rows whose routed intent equals the label; a
    clarification counts as wrong. Latencies are per `classify` call in milliseconds.
    `confusion[true][predicted]` counts rows, with `clarify` as a predicted column.
    """

    n: int
    accuracy: float
    p50_ms: float
    p99_ms: float
    clarified: int
    per_intent: dict[str, IntentScores]
    confusion: dict[str, dict[str, int]]


def load_labelled(paths: Path | str | Iterable[Path | str]) -> list[LabelledMessage]:
    """Read labelled messages from one or more JSON Lines files.

    Args:
        paths: a path or several; each line is `{"text": str, "label": str, ...}`
            (extra keys are ignored, blank lines skipped).

    Returns:
        The rows of all files, in order.

    Raises:
        FileNotFoundError: a file does not exist.
        ValueError: a line is not a JSON object, has no non-empty string `text`, or
            its `label` is not one of the department labels (graph.state.INTENTS);
            the message names the file and the 1-based line number.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    rows: list[LabelledMessage] = []
    for path in paths:
        with Path(path).open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                where = f"{path}, line {number}"
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{where}: not valid JSON ({exc.msg})") from exc
                if not isinstance(obj, dict):
                    raise ValueError(f"{where}: expected a JSON object")
                text, label = obj.get("text"), obj.get("label")
                if not isinstance(text, str) or not text.strip():
                    raise ValueError(f"{where}: missing or empty 'text'")
                if label not in INTENTS:
                    raise ValueError(
                        f"{where}: unknown label {label!r} (expected one of {', '.join(INTENTS)})"
                    )
                rows.append(LabelledMessage(text=text, label=label, source=where))
    return rows


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of `values` (q in 0-100)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def evaluate_routing(
    rows: Sequence[LabelledMessage], classify: Callable[[str], TriageDecision]
) -> RoutingReport:
    """Route every row with `classify` and score the result.

    Args:
        rows: labelled messages (see `load_labelled`).
        classify: triage function, e.g. `local_model.triage.classify_message`; it is
            timed per call with `time.perf_counter`.

    Returns:
        A `RoutingReport` (accuracy, precision/recall per label via sklearn.metrics,
        confusion counts, p50/p99 latency in ms, number of clarifications).

    Raises:
        ValueError: `rows` is empty.
    """
    if not rows:
        raise ValueError("no rows to evaluate")
    truth: list[str] = []
    predicted: list[str] = []
    latencies: list[float] = []
    for row in rows:
        started = time.perf_counter()
        decision = classify(row.text)
        latencies.append((time.perf_counter() - started) * 1000.0)
        truth.append(row.label)
        predicted.append(CLARIFIED if decision.needs_clarification else decision.intent)
    labels = [label for label in (*INTENTS, CLARIFIED) if label in truth or label in predicted]
    precision, recall, _, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    matrix = confusion_matrix(truth, predicted, labels=labels)
    per_intent = {
        label: IntentScores(
            precision=float(precision[i]), recall=float(recall[i]), support=int(support[i])
        )
        for i, label in enumerate(labels)
        if label != CLARIFIED
    }
    confusion = {
        label: {pred: int(matrix[i][j]) for j, pred in enumerate(labels) if matrix[i][j]}
        for i, label in enumerate(labels)
        if label in truth
    }
    return RoutingReport(
        n=len(rows),
        accuracy=float(accuracy_score(truth, predicted)),
        p50_ms=statistics.median(latencies),
        p99_ms=_percentile(latencies, 99),
        clarified=predicted.count(CLARIFIED),
        per_intent=per_intent,
        confusion=confusion,
    )


def render_report(report: RoutingReport, console: Console, title: str = "Routing") -> None:
    """Print `report` as Rich tables (summary line, per-label scores, confusion counts)."""
    from rich.table import Table

    console.print(
        f"[bold]{title}[/]: accuracy {report.accuracy:.1%} on {report.n} messages, "
        f"{report.clarified} clarified, p50 {report.p50_ms:.2f} ms, p99 {report.p99_ms:.2f} ms"
    )
    scores = Table("label", "precision", "recall", "support", title="Per label")
    for label, s in report.per_intent.items():
        scores.add_row(label, f"{s.precision:.2f}", f"{s.recall:.2f}", str(s.support))
    console.print(scores)
    columns = sorted({pred for row in report.confusion.values() for pred in row})
    matrix = Table("true \\ predicted", *columns, title="Confusion")
    for label, row in report.confusion.items():
        matrix.add_row(label, *(str(row.get(c, 0)) for c in columns))
    console.print(matrix)


def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate `local_model.triage.classify_message` on each file given (default: the
    public sets that exist) and print the reports; return exit code 0."""
    from rich.console import Console

    from local_model.classifier import get_classifier
    from local_model.triage import classify_message

    paths: list[str | Path] = list(argv if argv is not None else sys.argv[1:])
    if not paths:
        paths = [PUBLIC_DATA_DIR / name for name in PUBLIC_SETS]
        paths = [path for path in paths if Path(path).exists()]
    console = Console()
    classifier = get_classifier()
    console.print(
        f"classifier trained on {classifier.n_examples} utterances "
        f"in {classifier.train_seconds:.2f} s"
    )
    for _ in range(50):
        classify_message("warm-up message about my invoice")
    for path in paths:
        render_report(evaluate_routing(load_labelled(path), classify_message), console, str(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
