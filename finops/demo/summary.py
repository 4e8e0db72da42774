"""The demo's closing summary: spend, anomalies, findings and savings, actions and the savings
they achieved, stage times."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from finops.demo.scoring import anomaly_backtest, score_findings
from finops.demo.seams import DailyFacts, RemediationFacts
from tasks.money import usd
from tasks.settings import AnomalySettings


def timing_lines(stage_seconds: dict[str, float], daily_seconds: dict[str, float]) -> list[str]:
    """The time each demo stage took, finops-daily's own stages indented under it.

    Example:
        >>> for line in timing_lines({"finops-daily": 9.0}, {"ingest": 5.0}):
        ...     print(line)
        Time per stage (s):
          finops-daily                  9.0
            ingest                      5.0
          total                         9.0
    """
    lines = ["Time per stage (s):"]
    for stage, seconds in stage_seconds.items():
        lines.append(f"  {stage:<26} {seconds:>6.1f}")
        if stage == "finops-daily":
            # The scan runs alongside ingest and anomalies, so these overlap.
            lines.extend(
                f"    {inner:<24} {inner_s:>6.1f}" for inner, inner_s in daily_seconds.items()
            )
    lines.append(f"  {'total':<26} {sum(stage_seconds.values()):>6.1f}")
    return lines


def _spend_lines(daily: DailyFacts, cost_store_url: str) -> tuple[list[str], Decimal]:
    from tasks.costs.store import CostStore

    store = CostStore(cost_store_url)
    spend = store.query(
        "select count(*) as n_rows, count(distinct charge_date) as n_days, "
        "sum(effective_cost) as total from costs"
    ).iloc[0]
    last_day = date.fromisoformat(daily.day)
    month = store.read(last_day - timedelta(days=29), last_day, ["effective_cost"])
    monthly_spend = Decimal(str(round(float(month["effective_cost"].sum()), 2)))
    return [
        f"Spend ingested: {int(spend['n_rows']):,} cost rows over {int(spend['n_days'])} days, "
        f"${Decimal(str(round(float(spend['total']), 2))):,} USD effective "
        f"(this run: {daily.ingested_rows:,} rows)",
        f"Spend in the last 30 days: ${monthly_spend:,} USD",
    ], monthly_spend


def _findings_lines(
    daily: DailyFacts, findings_url: str, truth: dict[str, Any], monthly_spend: Decimal
) -> list[str]:
    score = score_findings(findings_url, truth, daily.scanned_checks)
    by_check, judged = score.savings_by_check, score.judged
    total_savings = sum((sum(v, Decimal(0)) for v in by_check.values()), Decimal(0))
    lines = [
        "Findings and monthly savings by check (USD per month), "
        "against the sandbox's flagged resources:"
    ]
    for check, amounts in sorted(by_check.items(), key=lambda kv: -sum(kv[1], Decimal(0))):
        judged_check = judged.get(check, {"expected": 0, "found": 0, "unexpected": len(amounts)})
        lines.append(
            f"  {check:<20} {len(amounts):>4}  ${sum(amounts, Decimal(0)):>10,.2f}"
            f"   {judged_check['found']} of {judged_check['expected']} flagged found"
            + (f", {judged_check['unexpected']} not flagged" if judged_check["unexpected"] else "")
        )
    for check, judged_check in judged.items():
        if check not in by_check and judged_check["expected"]:
            lines.append(
                f"  {check:<20} {0:>4}  ${0:>10,.2f}   0 of {judged_check['expected']} found"
            )
    share = (total_savings / monthly_spend * 100) if monthly_spend else Decimal(0)
    lines.append(
        f"  {'total':<20} {sum(len(v) for v in by_check.values()):>4}  ${total_savings:>10,.2f}"
        f"  = {share:.1f}% of monthly spend (target 15-30%); "
        f"{sum(j['found'] for j in judged.values())} of "
        f"{sum(j['expected'] for j in judged.values())} flagged resources found"
    )
    return lines


def _remediation_lines(
    daily: DailyFacts, remediation: RemediationFacts, approved: int | None
) -> list[str]:
    lines = []
    rate = remediation.success_rate
    rate_text = "n/a" if rate is None else f"{rate * 100:.1f}%"
    if approved is not None:
        lines.append(
            f"Approved {approved} of {daily.awaiting_approval} findings waiting "
            "(safe actions that apply to the resource, protected resources left alone)"
        )
    lines.append(
        f"Remediation ({remediation.status}, approver {remediation.approver or '-'},"
        f" dry run {remediation.dry_run}): {remediation.attempted} attempted, "
        f"{remediation.succeeded} succeeded, {remediation.skipped} skipped, "
        f"{remediation.failed} failed; automation success rate {rate_text} "
        "(target >= 95%)"
    )
    for reason, count in sorted(remediation.skip_reasons.items(), key=lambda kv: -kv[1]):
        lines.append(f"  skipped {count:>3}: {reason}")
    lines.append(savings_achieved_line(remediation))
    return lines


def savings_achieved_line(remediation: RemediationFacts) -> str:
    """The monthly savings the approved actions achieved, per account/region.

    Example:
        >>> savings_achieved_line(RemediationFacts(dry_run=False,
        ...     savings_achieved_usd=Decimal("12.5"),
        ...     savings_achieved_by_place={"1/r": Decimal("12.5")}))
        'Savings achieved: $12.50 a month (1/r $12.50)'
    """
    line = f"Savings achieved: {usd(remediation.savings_achieved_usd)} a month"
    if remediation.dry_run:
        return f"{line} (dry run: nothing changed)"
    places = ", ".join(
        f"{where} {usd(amount)}" for where, amount in remediation.savings_achieved_by_place.items()
    )
    return f"{line} ({places})" if places else line


def summarise(
    *,
    daily: DailyFacts,
    remediation: RemediationFacts,
    findings_url: str,
    cost_store_url: str,
    truth: dict[str, Any],
    anomaly_settings: AnomalySettings,
    approved: int | None = None,
) -> list[str]:
    """The demo's closing summary, in lines a person reads (the stage times go after it).

    Args:
        daily, remediation: the runs' results as ``finops.demo.seams`` reads them.
        anomaly_settings: what the history's anomalies are judged with (the daily run's).
    """
    lines = ["", "=== finops-flows demo summary ==="]
    spend_lines, monthly_spend = _spend_lines(daily, cost_store_url)
    lines.extend(spend_lines)
    backtest = anomaly_backtest(cost_store_url, truth, anomaly_settings)
    lines.append(
        f"Anomalies: {backtest['found']} of {backtest['injected']} injected anomalies found "
        f"(history judged causally day by day), {backtest['false_alerts']} other alerts; "
        f"today's check: {daily.anomalies_today} "
        "open or recent"
    )
    lines.extend(_findings_lines(daily, findings_url, truth, monthly_spend))
    lines.extend(_remediation_lines(daily, remediation, approved))
    return lines
