"""The affirm/deny/other classifier, its held-out evaluation, and stored offers."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from evals.confirmation import HOLDOUT_PATH, evaluate, main
from local_model.confirmation import DATA_PATH, classify_answer, load_answers
from storage.crm_database import connect
from tools import offers
from tools.customers import require_customer


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("yes please do that", "affirm"),
        ("sure, go ahead", "affirm"),
        ("ok", "affirm"),
        ("no thanks, not right now", "deny"),
        ("hold on", "deny"),
        ("actually no", "deny"),
        ("can you make it 50% off?", "other"),
        ("what does Enterprise include?", "other"),
        ("", "other"),
        ("yes " * 100, "other"),
    ],
)
def test_short_answers_are_read_as_affirm_deny_or_other(text: str, label: str) -> None:
    assert classify_answer(text).label == label


def test_the_held_out_answers_score_above_the_floor_and_no_deny_reads_as_yes() -> None:
    training = set(load_answers(DATA_PATH)[0])
    held_out = load_answers(HOLDOUT_PATH)[0]
    assert not training & set(held_out), "held-out answers must not be trained on"
    report = evaluate()
    assert report.size >= 90
    assert report.accuracy >= 0.9
    assert report.deny_read_as_affirm == []
    assert min(report.recall.values()) >= 0.85


def test_the_evaluation_command_prints_figures_and_reports_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([]) == 0
    printed = capsys.readouterr().out
    assert "accuracy:" in printed and "deny read as affirm: 0" in printed
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"text": "yes", "label": "maybe"}) + "\n")
    assert main([str(broken)]) == 2
    assert "unknown label" in capsys.readouterr().err


def test_a_stored_offer_keeps_its_terms_and_expires_after_seven_days(tmp_path: Path) -> None:
    conn = connect(tmp_path / "crm.sqlite")
    try:
        customer = require_customer(conn, "C002")
        day = date(2026, 11, 22)
        stored, priced = offers.create_offer(
            conn, customer, "pro", discount_pct=45, trial_days=14, today=day, idempotency_key="k"
        )
        assert priced.clamped and stored.discount_pct == 30.0 and stored.months == 3
        assert stored.expires_on == "2026-11-29" and stored.discounted_price == 69.3
        again, _ = offers.create_offer(
            conn, customer, "pro", discount_pct=10, trial_days=0, today=day, idempotency_key="k"
        )
        assert again == stored
        with pytest.raises(offers.OfferExpiredError, match="expired on 2026-11-29"):
            offers.accept_offer(
                conn, "C002", stored.id, today=date(2026, 11, 30), idempotency_key="a1"
            )
        with pytest.raises(LookupError):
            offers.get_offer(conn, "C001", stored.id)
        change = offers.accept_offer(
            conn, "C002", stored.id, today=date(2026, 11, 29), idempotency_key="a2"
        )
        assert (change.to_plan, change.discount_pct, change.trial_days) == ("Professional", 30, 14)
        with pytest.raises(ValueError, match="already accepted"):
            offers.accept_offer(conn, "C002", stored.id, today=day, idempotency_key="a3")
        invoice = offers.upcoming_invoice(conn, "C002", date(2026, 11, 29))
        assert (invoice.amount, invoice.discount_pct) == (69.3, 30.0)
        assert invoice.bills_on >= "2026-12-13" and invoice.trial_ends_on == "2026-12-13"
    finally:
        conn.close()
