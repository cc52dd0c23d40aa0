"""Language of a customer message, detected offline with `py3langid`.

`py3langid` (a maintained fork of langid.py) ships its model inside the package, is
deterministic and scores one message in well under a millisecond once loaded (loading
takes about a second, once per process). Short messages carry little evidence ("ok",
"help", "SSO login broken" score as German or Dutch), so a message only counts as
non-English when it has at least `MIN_WORDS` words and the detector is at least
`MIN_CONFIDENCE` sure; everything else is English, the language our answers are in.
"""

from __future__ import annotations

import re
import threading
from typing import Any

DEFAULT_LANGUAGE = "en"
"""ISO 639-1 code of the language our support answers are written in."""

SUPPORTED_LANGUAGES: tuple[str, ...] = (
    "en", "es", "fr", "de", "it", "pt", "nl", "pl", "sv", "da", "ru", "tr", "ja", "zh",
)  # fmt: skip
"""Languages the detector chooses between (ISO 639-1). Restricting the set keeps rare
languages from winning on short support messages."""

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "pl": "Polish",
    "sv": "Swedish",
    "da": "Danish",
    "ru": "Russian",
    "tr": "Turkish",
    "ja": "Japanese",
    "zh": "Chinese",
}
"""English name of every supported language, for prompts and replies."""

MIN_WORDS = 3
"""Fewest words a message needs before it can be classed as non-English."""

MIN_CONFIDENCE = 0.7
"""Least normalised probability (0-1) the detector needs for a non-English answer."""

_WORD = re.compile(r"[^\W\d_]+")
_CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_lock = threading.Lock()
_identifier: Any = None


def _get_identifier() -> Any:
    """The process-wide py3langid identifier restricted to `SUPPORTED_LANGUAGES`."""
    global _identifier
    if _identifier is None:
        with _lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                identifier.set_languages(list(SUPPORTED_LANGUAGES))
                _identifier = identifier
    return _identifier


def detect_language(text: str) -> str:
    """Return the ISO 639-1 code of the language `text` is written in.

    Args:
        text: a customer message (any length; empty text is English).

    Returns:
        One of `SUPPORTED_LANGUAGES`; `DEFAULT_LANGUAGE` ("en") unless the message has
        at least `MIN_WORDS` words (or any Chinese/Japanese characters) and the detector
        gives another language a probability of at least `MIN_CONFIDENCE`.
    """
    has_cjk = bool(_CJK.search(text))
    if len(_WORD.findall(text)) < MIN_WORDS and not has_cjk:
        return DEFAULT_LANGUAGE
    language, probability = _get_identifier().classify(text)
    if language != DEFAULT_LANGUAGE and probability >= MIN_CONFIDENCE:
        return str(language)
    return DEFAULT_LANGUAGE


def language_name(code: str) -> str:
    """English name of a language code (`"es"` -> `"Spanish"`); the code itself if unknown."""
    return LANGUAGE_NAMES.get(code, code)


_I = re.IGNORECASE
FOREIGN_SIGNALS: dict[str, re.Pattern[str]] = {
    "escalation": re.compile(
        r"\b(humano|persona|agente|humain|une personne|conseiller|mensch\w*|mitarbeiter\w*|"
        r"umano|operatore|pessoa|atendente|queja|reclamaci[oó]n|plainte|beschwerde|reclamo|"
        r"abogado|avocat|anwalt|avvocato|advogado|pirate\w*|gehackt|hackead\w*)\b",
        _I,
    ),
    "refund": re.compile(
        r"\b(reembols\w*|devoluci[oó]n|devolver|rembours\w*|r[uü]ckerstatt\w*|erstatt\w*|"
        r"geld zur[uü]ck|rimbors\w*|terugbetal\w*|cobrado dos veces|d[ée]bit[ée] deux fois|"
        r"doppelt (?:abgebucht|belastet))\b",
        _I,
    ),
    "billing": re.compile(
        r"\b(factura\w*|facture\w*|rechnung\w*|fattur\w*|fatura\w*|factuur|cobro\w*|cargo\w*|"
        r"pago\w*|paiement\w*|pr[ée]l[èe]vement\w*|zahlung\w*|abbuchung\w*|pagament\w*|"
        r"tarjeta|carte bancaire|kreditkarte|carta di credito|cart[aã]o)\b",
        _I,
    ),
    "technical": re.compile(
        r"\b(error\w*|erreur\w*|fehler\w*|errore|erro|fout\w*|contrase[nñ]a|mot de passe|"
        r"passwort|senha|wachtwoord|iniciar sesi[oó]n|connexion|anmeld\w*|einlogg\w*|"
        r"accesso|acceso|entrar|me connecter|inloggen|"
        r"no funciona|ne fonctionne|funktioniert nicht|non funziona|n[aã]o funciona|"
        r"bloquead[oa]|bloqu[ée]e?|gesperrt|bloccat[oa])\b",
        _I,
    ),
    "sales": re.compile(
        r"\b(suscripci[oó]n|abonnement|abo|abbonamento|assinatura|precio\w*|prix|preis\w*|"
        r"prezz\w*|pre[cç]o\w*|mejorar mi plan|cambiar de plan|changer de (?:plan|formule)|"
        r"cancelar|annuler|k[uü]ndig\w*|disdir\w*|tarif\w*)\b",
        _I,
    ),
}
"""Words in the languages we detect most often that say which department a message is
for ("factura" -> billing), in the order they are tried: a message naming a person or a
complaint goes to a human first, a refund word wins over an invoice word."""


def foreign_department(text: str) -> str | None:
    """Department named by a non-English keyword in `text`, or None (see `FOREIGN_SIGNALS`)."""
    for department, pattern in FOREIGN_SIGNALS.items():
        if pattern.search(text):
            return department
    return None


ENGLISH_ONLY_NOTE = (
    "I can only answer in English here. If you'd rather continue in {language}, ask for a "
    "person and I'll open a ticket for someone on our team who can help you in {language}."
)
"""Said first in every embedded-model reply to a message written in another language."""


def english_only_note(code: str) -> str:
    """The plain-English note that answers are in English and a person can help in the
    customer's language (`code` is ISO 639-1, e.g. "es")."""
    return ENGLISH_ONLY_NOTE.format(language=language_name(code))
