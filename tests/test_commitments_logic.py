"""The commitments' pure logic: the purchase simulator and the expiry schedule."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from sandbox.commitments import best_hourly_commitment
from tasks.commitments.expiry import due_alerts
from tasks.commitments.models import Commitment
from tasks.commitments.simulate import best_commitment, break_even_fall, scenarios, simulate


@pytest.mark.parametrize("seed", range(5))
def test_the_simulator_finds_the_closed_form_optimum(seed: int) -> None:
    usage = np.random.default_rng(seed).gamma(8.0, 25.0, size=30)
    found = best_commitment(usage, 0.72)
    exact = best_hourly_commitment(usage.tolist(), 0.72)
    assert found.hourly_commitment_usd == pytest.approx(exact, rel=0.01)
    # nothing within a cent an hour either side saves more
    for other in (found.hourly_commitment_usd - 0.01, found.hourly_commitment_usd + 0.01):
        assert simulate(usage, 0.72, other).net_savings_usd <= found.net_savings_usd + 1e-9


def test_break_even_and_usage_falls() -> None:
    usage = [240.0] * 30
    best = best_commitment(usage, 0.72)
    assert best.hourly_commitment_usd == pytest.approx(7.2)
    assert best.utilisation == pytest.approx(1.0)
    fall = break_even_fall(usage, 0.72, best.hourly_commitment_usd)
    assert fall == pytest.approx(0.28, abs=1e-6)  # a flat load may fall by 1 - rate
    runs = scenarios(usage, 0.72, best.hourly_commitment_usd)
    assert runs[0.10].net_savings_usd > 0 > runs[0.50].net_savings_usd
    assert break_even_fall([0.0] * 5, 0.72, 1.0) is None
    assert best_commitment([0.0] * 5, 0.72).hourly_commitment_usd == 0.0


def test_each_expiry_notice_is_due_once_as_the_end_approaches() -> None:
    end = date(2027, 3, 1)
    ri = Commitment(
        commitment_id="arn:aws:rds:us-east-1:1:ri:ri-1",
        short_id="ri-1",
        kind="Reserved Instance",
        account_id="111111111111",
        end=end,
    )
    first_due: dict[str, date] = {}
    day = end - timedelta(days=90)
    while day <= end + timedelta(days=3):
        for alert in due_alerts([ri], day, [60, 30, 7]):
            first_due.setdefault(alert.key, day)
        day += timedelta(days=1)
    assert {key.rsplit("|", 1)[1]: (end - d).days for key, d in first_due.items()} == {
        "60": 60,
        "30": 30,
        "7": 7,
    }
    assert due_alerts([ri], end + timedelta(days=1), [60, 30, 7]) == []


def test_the_slack_digest_lists_commitment_findings_in_their_own_section() -> None:
    from decimal import Decimal

    from tasks.commitments.findings import unused_findings
    from tasks.notify.models import DigestInput
    from tasks.notify.render import render_digest

    sp = Commitment(
        commitment_id="arn:aws:savingsplans::2:savingsplan/x",
        short_id="x",
        kind="Savings Plan",
        account_id="222222222222",
        end=date(2027, 1, 1),
    )
    figures = {
        "account_id": "222222222222",
        "kind": "Savings Plan",
        "unused_usd": Decimal("72.00"),
        "used_usd": Decimal("108.00"),
        "days": 30,
    }
    found = unused_findings(
        [sp], {sp.commitment_id: figures}, date(2026, 11, 4), date(2026, 12, 3), 0.01
    )
    message = render_digest(
        DigestInput(day=date(2026, 12, 3), spend_usd=Decimal("700"), findings=found), "ok"
    )
    texts = [b["text"]["text"] for b in message.blocks if b.get("type") == "section"]
    assert any(t.startswith("*Commitments* (1)") and "commitment-unused" in t for t in texts)
    assert not any(t.startswith("*Top idle resources*") for t in texts)
    assert any("across 1 resources" in t for t in texts)


def test_a_cent_of_difference_between_store_and_cost_explorer_is_reported() -> None:
    from decimal import Decimal

    from tasks.commitments.models import DayFigures
    from tasks.commitments.review import compare

    day = date(2026, 12, 1)
    store = DayFigures(
        day=day,
        kind="Savings Plan",
        used_usd=Decimal("59.17"),
        unused_usd=Decimal("2.40"),
        covered_usd=Decimal("82.18"),
        on_demand_usd=Decimal("210.00"),
    )
    ce = store.model_copy(update={"unused_usd": Decimal("2.41")})
    found = compare([store], [ce], {day: (Decimal("82.18"), Decimal("209.99"))})
    assert [(d.figure, d.store_usd, d.ce_usd) for d in found] == [
        ("unused_usd", Decimal("2.40"), Decimal("2.41")),
        ("on_demand_usd", Decimal("210.00"), Decimal("209.99")),
    ]
    assert compare([store], [], None)[0].ce_usd == Decimal("0.00")
