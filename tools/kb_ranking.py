"""Relevance ranking of knowledge-base articles with scikit-learn TF-IDF.

Two TF-IDF views of each article are compared with the customer's words by cosine
similarity: word unigrams and bigrams (after stop words are dropped, plurals folded and
synonyms added), which reward the article's own vocabulary, and character 3-5-grams, which
still match through typos ("pasword", "webhoks"). The score is a weighted sum of both, in
0..1. Title and tags are repeated in the indexed text so they weigh more than the body.

An article is only returned when its score reaches `RELEVANCE_THRESHOLD`, or when it is
the best match, scores at least `CLEAR_LEAD_FLOOR` and leads the runner-up by
`CLEAR_LEAD_RATIO`: otherwise the best match is most likely an unrelated article, and
saying "no article" (and offering a ticket) is better than answering the wrong question.
Both rules are measured with `python -m evals.retrieval` on our own labelled questions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import snowballstemmer

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer

RELEVANCE_THRESHOLD = 0.18
"""Lowest score (0..1) of an article worth showing; measured by `evals.retrieval`."""

CLEAR_LEAD_FLOOR = 0.13
"""Lowest score (0..1) of a best article kept below the threshold when it clearly leads."""

CLEAR_LEAD_RATIO = 2.0
"""How many times the runner-up's score the best article needs to count as a clear lead.

Short how-to questions ("how do funnels work") carry one or two content words, so their
best article scores under `RELEVANCE_THRESHOLD` even when nothing else comes close; an
unrelated question scatters its few matches over several articles instead."""

WORD_WEIGHT = 0.6
"""Share of the word view in the score; the character view gets the rest."""

_WORD = re.compile(r"[a-z0-9]+")

STOP_WORDS = frozenset(
    """a about above after again all am an and any are as at be because been before being
    but by can cannot could did do does doing don during each few for from get gets
    getting got had has have having he her here hers him his how i im if in into is isn
    it its just keep keeps kept me more most my myself no nor not now of off on once
    only or other our ours out over own please same she should since so some still such
    than that the their theirs them then there these they this those through to too
    today under until up us very was we were what when where which while who why will
    with won would you your yours yesterday morning tonight hi hello hey thanks thank
    want wanted need needs trying try tried help lumen s t ll ve re d m one whats hows""".split()  # noqa: SIM905
)
"""Words that match everything and rank nothing."""

SYNONYMS: dict[str, tuple[str, ...]] = {
    "login": ("sign",),
    "signin": ("sign",),
    "log": ("sign",),
    "forgot": ("password", "reset"),
    "forgotten": ("password", "reset"),
    "pwd": ("password",),
    "2fa": ("two", "factor"),
    "mfa": ("two", "factor"),
    "authenticator": ("two", "factor"),
    "sso": ("saml", "single"),
    "throttled": ("429", "rate"),
    "throttling": ("429", "rate"),
    "429": ("rate", "limit"),
    "500": ("5xx",),
    "502": ("5xx",),
    "503": ("5xx",),
    "504": ("5xx",),
    "crash": ("crashes", "freeze"),
    "crashing": ("crashes", "freeze"),
    "crashed": ("crashes",),
    "freezes": ("freeze", "crashes"),
    "undo": ("restore", "deleted"),
    "undelete": ("restore", "deleted"),
    "recover": ("restore",),
    "bin": ("trash",),
    "yearly": ("annual", "annually"),
    "annually": ("annual",),
    "year": ("annual",),
    "university": ("education",),
    "universities": ("education",),
    "school": ("education",),
    "student": ("education",),
    "students": ("education",),
    "academic": ("education",),
    "charity": ("nonprofit",),
    "ngo": ("nonprofit",),
    "nonprofit": ("non", "profit"),
    "history": ("retention",),
    "stored": ("retention",),
    "store": ("retention",),
    "retain": ("retention",),
    "delete": ("deletion",),
    "erase": ("deletion", "gdpr"),
    "receipt": ("invoices",),
    "receipts": ("invoices",),
    "invoice": ("invoices",),
    "verification": ("email",),
    "confirmation": ("verification", "email"),
    "mail": ("email",),
    "cancel": ("cancellation",),
    "cancelling": ("cancellation", "cancel"),
    "refund": ("refunds",),
    "teammate": ("invite",),
    "colleague": ("teammate", "invite"),
    "colleagues": ("teammates", "invite"),
    "coworker": ("teammate", "invite"),
    "ios": ("mobile",),
    "iphone": ("ios", "mobile"),
    "android": ("mobile",),
    "node": ("javascript", "sdk"),
    "nodejs": ("node", "javascript", "sdk"),
    "several": ("multiple",),
    "hacked": ("compromised", "security", "incident"),
    "leaked": ("compromised", "security"),
    "stolen": ("compromised", "security"),
    "snippet": ("sdk", "install"),
    "difference": ("comparison", "compare"),
    "compare": ("comparison",),
    "users": ("seats",),
    "licenses": ("seats",),
    "outage": ("status", "down"),
    "down": ("status", "outage"),
    "hooks": ("webhooks",),
    "webhook": ("webhooks",),
    "spreadsheet": ("csv",),
    "excel": ("csv",),
    "cost": ("pricing", "price"),
    "costs": ("pricing", "price"),
    "price": ("pricing",),
    "prices": ("pricing",),
}
"""Customer word -> words the articles use for it (added to the query, never replacing)."""

GENERIC_VERBS: dict[str, str] = {
    verb: "create"
    for verb in "build builds building built make makes making made".split()  # noqa: SIM905
}
"""Everyday verbs replaced by the one word the articles use for them ("how do I build a
dashboard" asks how to create one, not about the funnel article titled "Building ...")."""


PHRASES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), extra)
    for pattern, extra in (
        (r"\bkeep (?:my|our|the|your)? ?data\b|\bhow long\b.*\bdata\b", "retention"),
        (r"\bmoney back\b", "refund"),
        (r"\b(?:read|view)[- ]only\b", "viewer role"),
        (r"\b(?:new|lost|broken|stolen) (?:phone|device)\b", "lost device recovery"),
        (r"\bcheaper plan\b|\blower plan\b", "downgrade"),
        (r"\btoo many requests\b", "429 rate limit"),
        (r"\b(?:internal server error|service unavailable|bad gateway)\b", "5xx"),
        (r"\bcard on file\b|\bnew card\b", "update card"),
        (r"\bextra events\b|\bmore events\b", "events pack add-ons"),
        (r"\bapi key\b.*\binvalid\b|\binvalid\b.*\bapi key\b", "401 unauthorized"),
    )
)
"""Customer phrases -> words the articles use for them (added to the query)."""

_STEMMER = snowballstemmer.stemmer("english")


def terms(text: str) -> list[str]:
    """The content words of `text`: lower case, stop words dropped, synonyms added, stemmed.

    Stemming is the Snowball English stemmer ('creating' and 'create' both become 'creat').
    """
    lowered = text.lower().replace("'", "").replace("’", "")
    words: list[str] = []
    for word in _WORD.findall(lowered):
        if word in STOP_WORDS or len(word) < 2:
            continue
        word = GENERIC_VERBS.get(word, word)
        words.append(word)
        words.extend(SYNONYMS.get(word, ()))
    for pattern, extra in PHRASES:
        if pattern.search(lowered):
            words.extend(extra.split())
    return list(_STEMMER.stemWords(words))


def _word_analyzer(text: str) -> list[str]:
    words = terms(text)
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


def _char_text(text: str) -> str:
    return " ".join(terms(text))


class Indexable(Protocol):
    """What the ranking reads of an article."""

    id: str
    title: str
    tags: list[str]
    body: str


def indexed_text(article: Indexable) -> str:
    """The text an article is indexed by: title and tags twice, then the body."""
    tags = " ".join(t.replace("-", " ") for t in article.tags)
    return f"{article.title}. {article.title}. {tags}. {tags}. {article.body}"


@dataclass
class RankedIndex:
    """TF-IDF index of one set of articles; `rank` scores a query against all of them."""

    ids: list[str]
    word: TfidfVectorizer
    char: TfidfVectorizer
    word_matrix: object
    char_matrix: object

    @classmethod
    def build(cls, articles: Sequence[Indexable]) -> RankedIndex:
        """Fit both views on `articles` (at least one article).

        Raises:
            ValueError: for an empty list.
        """
        from sklearn.feature_extraction.text import TfidfVectorizer  # loaded when first used

        if not articles:
            raise ValueError("Cannot index an empty knowledge base")
        texts = [indexed_text(a) for a in articles]
        word = TfidfVectorizer(analyzer=_word_analyzer, sublinear_tf=True)
        char = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, preprocessor=_char_text
        )
        return cls(
            ids=[a.id for a in articles],
            word=word,
            char=char,
            word_matrix=word.fit_transform(texts),
            char_matrix=char.fit_transform(texts),
        )

    def rank(self, query: str) -> list[tuple[str, float]]:
        """(article ID, score 0..1) for every article with a score above 0, best first.

        Returns an empty list when the query has no content words.
        """
        from sklearn.metrics.pairwise import linear_kernel

        if not terms(query):
            return []
        word_scores = linear_kernel(self.word.transform([query]), self.word_matrix)[0]
        char_scores = linear_kernel(self.char.transform([query]), self.char_matrix)[0]
        scores = WORD_WEIGHT * word_scores + (1 - WORD_WEIGHT) * char_scores
        ranked = sorted(zip(self.ids, scores, strict=True), key=lambda p: (-p[1], p[0]))
        return [(article_id, float(score)) for article_id, score in ranked if score > 0]


def relevant(
    ranked: Sequence[tuple[str, float]], min_score: float = RELEVANCE_THRESHOLD
) -> list[tuple[str, float]]:
    """The head of `ranked` (as returned by `RankedIndex.rank`) worth showing, best first.

    Every article scoring at least `min_score` is kept; when none does, the best article
    alone is kept if it scores at least `CLEAR_LEAD_FLOOR` (or `min_score`, if lower) and
    `CLEAR_LEAD_RATIO` times the runner-up's score (the clear-lead rule of the module
    docstring). Scores are 0..1.
    """
    kept = [(article_id, score) for article_id, score in ranked if score >= min_score]
    if kept or not ranked:
        return kept
    best = ranked[0][1]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    if best >= min(CLEAR_LEAD_FLOOR, min_score) and best >= CLEAR_LEAD_RATIO * runner_up:
        return [ranked[0]]
    return []
