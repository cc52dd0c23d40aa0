"""Affirm / deny / other: how a customer answered a proposed write.

A small scikit-learn classifier (TF-IDF of word and character n-grams, logistic
regression) trained on our own labelled answers (`data/confirmations.jsonl`). Triage asks
it only when a `PendingAction` waits for an answer (docs/architecture.md "Confirmation
before writes"). An affirmation must be clear: below `AFFIRM_THRESHOLD` the answer counts
as `other`, which writes nothing.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from local_model.classifier import word_and_char_ngrams

Answer = Literal["affirm", "deny", "other"]

ANSWERS: tuple[Answer, ...] = ("affirm", "deny", "other")
"""The labels: `affirm` (do it), `deny` (don't, not now), `other` (anything else)."""

DATA_PATH = Path(__file__).parent / "data" / "confirmations.jsonl"
"""Our labelled answers to a proposal (JSON Lines `{"text", "label"}`)."""

AFFIRM_THRESHOLD = 0.6
"""Least probability of `affirm` for an answer to count as a yes (0-1)."""

MAX_ANSWER_CHARS = 200
"""Longer messages are never a bare answer to a proposal: they are `other`."""


@dataclass(frozen=True)
class AnswerPrediction:
    """The classifier's reading of one message: label and its probability (0-1)."""

    label: Answer
    confidence: float


def load_answers(path: Path | str = DATA_PATH) -> tuple[list[str], list[str]]:
    """Read `(texts, labels)` from a JSON Lines file of `{"text", "label"}` objects.

    Raises:
        ValueError: invalid JSON, an empty text or a label outside `ANSWERS`; the message
            names the file and line.
    """
    texts: list[str] = []
    labels: list[str] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: invalid JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or not str(row.get("text") or "").strip():
            raise ValueError(f"{path}:{number}: missing or empty 'text'")
        if row.get("label") not in ANSWERS:
            raise ValueError(f"{path}:{number}: unknown label {row.get('label')!r}")
        texts.append(str(row["text"]))
        labels.append(str(row["label"]))
    return texts, labels


class ConfirmationClassifier:
    """Affirm/deny/other classifier, trained at construction.

    Args:
        texts, labels: training data; read from `DATA_PATH` when both are None.
    """

    def __init__(self, texts: list[str] | None = None, labels: list[str] | None = None) -> None:
        if texts is None or labels is None:
            texts, labels = load_answers()
        self.pipeline = Pipeline(
            [
                ("features", TfidfVectorizer(analyzer=word_and_char_ngrams, sublinear_tf=True)),
                ("model", LogisticRegression(C=10.0, max_iter=1000, random_state=0)),
            ]
        )
        self.pipeline.fit(texts, labels)

    def predict(self, text: str) -> AnswerPrediction:
        """Read `text` as an answer to a proposal.

        Returns `other` for an empty or long message and for an affirmation below
        `AFFIRM_THRESHOLD`; otherwise the most probable label.
        """
        stripped = text.strip()
        if not stripped or len(stripped) > MAX_ANSWER_CHARS:
            return AnswerPrediction("other", 1.0)
        probabilities = self.pipeline.predict_proba([stripped])[0]
        scores = dict(zip(self.pipeline.classes_, probabilities, strict=True))
        label = max(scores, key=scores.__getitem__)
        if label == "affirm" and scores[label] < AFFIRM_THRESHOLD:
            return AnswerPrediction("other", float(scores["other"]))
        return AnswerPrediction(label, float(scores[label]))


_lock = threading.Lock()
_instance: ConfirmationClassifier | None = None


def classify_answer(text: str) -> AnswerPrediction:
    """Classify `text` with the process-wide classifier (trained on first use)."""
    global _instance
    if _instance is None:
        with _lock:
            if _instance is None:
                _instance = ConfirmationClassifier()
    return _instance.predict(text)
