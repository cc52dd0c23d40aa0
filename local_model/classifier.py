"""Embedded intent classifier: TF-IDF features and logistic regression (scikit-learn).

The model is trained from the project's own labelled utterances
(`local_model/data/utterances.jsonl`) the first time it is needed. Training takes a
few seconds, so the process-wide classifier keeps the fitted pipeline in a joblib file
under `CACHE_DIR`, named by a hash of the training data, the feature settings and the
scikit-learn version: changed data or a new scikit-learn trains afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from graph.state import INTENTS

CLARIFY = "clarify"
"""Training label for messages too vague to route (not a department)."""

LABELS: tuple[str, ...] = (*INTENTS, CLARIFY)
"""Every label the classifier can predict: the seven departments plus `clarify`."""

DATA_PATH = Path(__file__).parent / "data" / "utterances.jsonl"
"""The project's own labelled training utterances (JSON Lines `{"text", "label"}`)."""

RANDOM_STATE = 0
"""Fixed seed so training is deterministic."""

FEATURES_VERSION = "word1-2+char_wb2-5/logreg-C20/v1"
"""Names the feature and model settings in `build_pipeline`; change it when they change,
so cached models trained with the old settings are not reused."""

CACHE_DIR = Path(
    os.environ.get("SUPPORT_SWARM_CACHE")
    or Path.home() / ".cache" / "support-swarm" / "classifiers"
)
"""Folder for fitted classifiers (`$SUPPORT_SWARM_CACHE`, else
`~/.cache/support-swarm/classifiers`)."""

_DIGITS = re.compile(r"\d")
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Return `text` lower-cased, with every digit mapped to `0` and whitespace collapsed.

    Mapping digits keeps the shape of amounts, status codes and invoice numbers
    ("$750" -> "$000", "500 error" -> "000 error") without tying the model to values.
    """
    return _SPACES.sub(" ", _DIGITS.sub("0", text.lower())).strip()


@dataclass(frozen=True)
class IntentPrediction:
    """Classifier output for one message.

    `label` is the most probable label (a department or `clarify`), `confidence`
    its probability (0-1) and `scores` the probability of every label in `LABELS`.
    """

    label: str
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)


def load_utterances(path: Path | str = DATA_PATH) -> tuple[list[str], list[str]]:
    """Read training utterances from a JSON Lines file.

    Args:
        path: file with one `{"text": str, "label": str}` object per line.

    Returns:
        `(texts, labels)`, two lists of equal length in file order.

    Raises:
        ValueError: a line is not valid JSON, lacks a non-empty `text`, or has a
            label outside `LABELS`; the message names the file and line number.
    """
    texts: list[str] = []
    labels: list[str] = []
    with Path(path).open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: invalid JSON ({exc.msg})") from exc
            text = row.get("text") if isinstance(row, dict) else None
            label = row.get("label") if isinstance(row, dict) else None
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{path}:{number}: missing or empty 'text'")
            if label not in LABELS:
                raise ValueError(f"{path}:{number}: unknown label {label!r}")
            texts.append(text)
            labels.append(label)
    return texts, labels


_word_ngrams = TfidfVectorizer(
    preprocessor=normalize_text, ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b"
).build_analyzer()
_char_ngrams = TfidfVectorizer(
    preprocessor=normalize_text, analyzer="char_wb", ngram_range=(2, 5)
).build_analyzer()


def word_and_char_ngrams(text: str) -> list[str]:
    """The features of one message: word uni/bi-grams, then character 2-5-grams within
    word boundaries, both of the `normalize_text` form (scikit-learn's own analyzers)."""
    return _word_ngrams(text) + _char_ngrams(text)


def build_pipeline() -> Pipeline:
    """Return the untrained scikit-learn pipeline.

    Word uni/bi-grams catch topic words ("refund", "invoice"); character n-grams
    within word boundaries make the model robust to typos and word forms. Both go into
    one TF-IDF vectorizer (`word_and_char_ngrams`), so scoring a message is one
    transform, not two stacked ones.
    """
    features = TfidfVectorizer(analyzer=word_and_char_ngrams, sublinear_tf=True)
    model = LogisticRegression(C=20.0, solver="newton-cg", max_iter=1000, random_state=RANDOM_STATE)
    return Pipeline([("features", features), ("model", model)])


class IntentClassifier:
    """Intent classifier trained on labelled utterances at construction time.

    Args:
        texts: training messages; read from `DATA_PATH` when both are `None`.
        labels: one label from `LABELS` per text.

    Raises:
        ValueError: the data has unknown labels or `texts`/`labels` differ in length.
    """

    def __init__(
        self,
        texts: list[str] | None = None,
        labels: list[str] | None = None,
        *,
        cache_dir: Path | None = None,
    ) -> None:
        if texts is None and labels is None:
            texts, labels = load_utterances()
        if texts is None or labels is None or len(texts) != len(labels):
            raise ValueError("texts and labels must both be given and have the same length")
        unknown = sorted(set(labels) - set(LABELS))
        if unknown:
            raise ValueError(f"unknown labels: {unknown}")
        started = time.perf_counter()
        cache_file = (
            cache_dir / f"intent-{training_key(texts, labels)}.joblib" if cache_dir else None
        )
        cached = _load_pipeline(cache_file) if cache_file else None
        self.from_cache: bool = cached is not None
        """True when the fitted pipeline was read from `cache_dir` instead of trained."""
        if cached is None:
            cached = build_pipeline()
            cached.fit(texts, labels)
            if cache_file:
                _save_pipeline(cached, cache_file)
        self._pipeline = cached
        self.train_seconds: float = time.perf_counter() - started
        """Wall-clock seconds to train (or to load from the cache)."""
        self.classes: tuple[str, ...] = tuple(str(c) for c in self._pipeline.classes_)
        """Labels in the order of the model's probability columns."""
        self.n_examples: int = len(texts)
        """Number of training utterances."""

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Return label probabilities for many texts from the fitted pipeline.

        The same numbers as `Pipeline.predict_proba`, with scikit-learn's argument and
        finiteness checks skipped (the inputs are our own strings and fitted matrices),
        which were about a third of the time of one message.

        Args:
            texts: messages to score.

        Returns:
            Array of shape `(len(texts), len(self.classes))`; rows sum to 1.
        """
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return np.asarray(self._pipeline.predict_proba(texts))

    def predict(self, text: str) -> IntentPrediction:
        """Classify one message.

        Args:
            text: the customer's message (any length; empty text is allowed).

        Returns:
            The most probable label with its probability and all label scores.
        """
        probs = self.predict_proba([text])[0]
        scores = {label: float(p) for label, p in zip(self.classes, probs, strict=True)}
        best = max(scores, key=scores.__getitem__)
        return IntentPrediction(label=best, confidence=scores[best], scores=scores)


def training_key(texts: list[str], labels: list[str]) -> str:
    """Hex SHA-256 (first 16 characters) of the training data, `FEATURES_VERSION` and the
    scikit-learn version: the name of a cached fitted model."""
    payload = json.dumps([FEATURES_VERSION, sklearn.__version__, texts, labels])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def _load_pipeline(path: Path) -> Pipeline | None:
    """The pipeline stored at `path`, or None when it is missing or unreadable."""
    try:
        pipeline = joblib.load(path)
    except Exception:  # missing, truncated or from an incompatible version: train again
        return None
    return pipeline if isinstance(pipeline, Pipeline) else None


def _save_pipeline(pipeline: Pipeline, path: Path) -> None:
    """Store `pipeline` at `path` atomically; a read-only or full disk only skips caching."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(pipeline, temporary)
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)


_lock = threading.Lock()
_instance: IntentClassifier | None = None


def get_classifier() -> IntentClassifier:
    """Return the process-wide classifier, loaded from `CACHE_DIR` or trained (and then
    cached) on first use (thread-safe)."""
    global _instance
    if _instance is None:
        with _lock:
            if _instance is None:
                _instance = IntentClassifier(cache_dir=CACHE_DIR)
    return _instance
