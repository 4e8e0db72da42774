"""ingest-costs against the sandbox organisation: Cost Explorer and the FOCUS export agree to the
cent over 13 months, re-runs change nothing, and a restated day is updated alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from flows.ingest_costs import ingest_costs
from tasks.costs.store import CostStore
from tasks.costs.sync import CE_HISTORY_MONTHS
from tasks.costs.window import months_back_first
from tests.plugins.sandbox import SandboxHandle

KEY = ["charge_date", "sub_account_id", "service", "region", "charge_category", "usage_type"]
EXPORT = {
    "FINOPS_COSTS__EXPORT_BUCKET": "finops-sandbox-cur",
    "FINOPS_COSTS__EXPORT_PREFIX": "cur",
    "FINOPS_COSTS__EXPORT_NAME": "finops-focus",
}


def use_sandbox(
    box: SandboxHandle, store: Path, monkeypatch: pytest.MonkeyPatch, history_days: int
) -> None:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in {**box.env, **EXPORT}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FINOPS_COSTS__STORE_URL", str(store))
    monkeypatch.setenv("FINOPS_COSTS__HISTORY_DAYS", str(history_days))


def cents_by(frame: pd.DataFrame, keys: list[str], column: str) -> pd.Series:
    summed = frame.groupby(keys)[column].sum()
    return summed.map(lambda v: Decimal(repr(v)).quantize(Decimal("0.01")))


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def ingested(
    sandbox: SandboxHandle, prefect_harness: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """13+ months ingested from both sources into one store (the first, full runs)."""
    store = tmp_path_factory.mktemp("costs-sandbox")
    first_day = date.fromisoformat(sandbox.ground_truth["first_day"])
    last_day = date.fromisoformat(sandbox.ground_truth["last_day"])
    monkeypatch = pytest.MonkeyPatch()
    try:
        use_sandbox(sandbox, store, monkeypatch, (last_day - first_day).days + 1)
        ce = ingest_costs(source="ce")
        export = ingest_costs(source="export")
        yield {
            "truth": sandbox.ground_truth["daily_totals"],
            "store": store,
            "ce": ce.model_dump(mode="json"),
            "export": export.model_dump(mode="json"),
            "first_day": first_day,
            "last_day": last_day,
        }
    finally:
        monkeypatch.undo()


def test_ce_and_export_agree_to_the_cent_over_13_months(ingested: dict[str, Any]) -> None:
    last_day = ingested["last_day"]
    # Cost Explorer reaches 13 months before the current month; the ledger may start earlier.
    reach = months_back_first(last_day + timedelta(days=1), CE_HISTORY_MONTHS)
    first_day = max(ingested["first_day"], reach)
    assert (last_day - first_day).days >= 395  # 13 months
    assert ingested["ce"]["days"] == (last_day - first_day).days + 1
    assert ingested["ce"]["ce_requests"] >= 1
    assert ingested["ce"]["ce_cost_usd"] == f"{ingested['ce']['ce_requests'] * 0.01:.2f}"
    store = CostStore(str(ingested["store"]))
    ce = store.read(first_day, last_day, source="ce")
    export = store.read(first_day, last_day, source="export")
    for column in ("billed_cost", "effective_cost"):
        ce_cents = cents_by(ce, ["charge_date", "sub_account_id", "service"], column)
        export_cents = cents_by(export, ["charge_date", "sub_account_id", "service"], column)
        pd.testing.assert_series_equal(ce_cents, export_cents, check_names=False)
    # And both equal the ledger's own daily totals (the sandbox's ground truth).
    truth = pd.DataFrame(ingested["truth"]).set_index("date")["billed_cost"]
    stored = ce.groupby(ce["charge_date"].map(date.isoformat))["billed_cost"].sum()
    assert (stored - truth.reindex(stored.index)).abs().max() < 0.006


def test_a_second_run_changes_nothing(ingested: dict[str, Any]) -> None:
    store_root: Path = ingested["store"]
    before = snapshot(store_root)
    first_day, last_day = ingested["first_day"], ingested["last_day"]
    again = ingest_costs(source="ce", start=first_day, end=last_day)
    assert again.model_dump(mode="json")["totals"] == ingested["ce"]["totals"]
    export_again = ingest_costs(source="export")
    assert export_again.rows == 0 and len(export_again.skipped) >= 13
    assert snapshot(store_root) == before
    stored = CostStore(str(store_root)).read()
    assert not stored.duplicated([*KEY, "source"]).any()


def test_an_incremental_run_fetches_only_the_restatement_window(ingested: dict[str, Any]) -> None:
    summary = ingest_costs(source="ce")
    (batch,) = summary.batches
    last_day: date = ingested["last_day"]
    assert batch.end == last_day
    start = batch.start
    # 3 days, or back to the 1st of the previous month early in a month.
    assert start == last_day - timedelta(days=2) or start.day == 1
    assert summary.ce_requests <= ingested["ce"]["ce_requests"]


def test_estimated_rows_are_the_most_recent_days_only(ingested: dict[str, Any]) -> None:
    ce = CostStore(str(ingested["store"])).read(source="ce")
    estimated_days = sorted(set(ce.loc[ce["estimated"], "charge_date"]))
    assert estimated_days, "Cost Explorer marks its last days as estimated"
    assert estimated_days[0] >= ingested["last_day"] - timedelta(days=5)
    export = CostStore(str(ingested["store"])).read(source="export")
    assert not export["estimated"].any()


def test_a_restated_day_is_updated_alone(
    fresh_sandbox: Any, prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = fresh_sandbox(seed=11, accounts=2, instances=0, volumes=0, cost_days=120)
    last_day = date.fromisoformat(box.ground_truth["last_day"])
    use_sandbox(box, tmp_path, monkeypatch, 120)
    ingest_costs(source="ce")
    ingest_costs(source="export")
    store = CostStore(str(tmp_path))
    before = store.read()
    restated = last_day - timedelta(days=1)
    box.control("POST", "restate", {"date": restated.isoformat(), "factor": 1.5})
    ce = ingest_costs(source="ce")
    export = ingest_costs(source="export")
    # Cost Explorer re-fetches its restatement window; the export re-reads only that month.
    assert [b.start.isoformat()[:7] for b in export.batches] == [restated.strftime("%Y-%m")]
    assert ce.ce_requests >= 1
    after = store.read()
    merged = before.merge(after, on=[*KEY, "source"], how="outer", suffixes=("_old", "_new"))
    changed = merged[(merged["billed_cost_old"] - merged["billed_cost_new"]).abs() > 1e-9]
    assert set(changed["charge_date"]) == {restated}
    assert set(changed["source"]) == {"ce", "export"}
    # Both sources carry the same restated day total to the cent.
    day = after[after["charge_date"] == restated]
    per_source = day.groupby("source")["billed_cost"].sum()
    assert abs(per_source["ce"] - per_source["export"]) < 0.006
    old_day = before[before["charge_date"] == restated].groupby("source")["billed_cost"].sum()
    assert per_source["ce"] > old_day["ce"]


def test_the_store_works_on_s3(sandbox_env: SandboxHandle) -> None:
    from tests.plugins.costs import make_cost_frame

    bucket = "finops-costs-store-test"
    s3 = sandbox_env.client("s3")
    s3.create_bucket(Bucket=bucket)
    # The session sandbox is shared: leave it as it was found.
    try:
        store = CostStore(f"s3://{bucket}/costs")
        start = date(2026, 1, 1)
        store.replace_window(make_cost_frame(start, 5), start, start + timedelta(days=4), "ce")
        store.replace_window(
            make_cost_frame(start, 2, daily_cost=3.0), start, start + timedelta(days=4), "ce"
        )
        assert store.stored_days("ce") == {start, start + timedelta(days=1)}
        assert store.read()["billed_cost"].sum() == 3.0 * 4 * 2
        assert store.query("select count(*) as n from costs")["n"].iloc[0] == 8
        store.write_meta("export_versions", {"2026-01": "exec-1"})
        assert store.read_meta("export_versions") == {"2026-01": "exec-1"}
        keys = [
            o["Key"] for o in sandbox_env.client("s3").list_objects_v2(Bucket=bucket)["Contents"]
        ]
        assert "costs/charge_date=2026-01-01/source=ce/data.parquet" in keys
    finally:
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=bucket)


def test_region_and_record_type_detail_passes_match_the_export(
    sandbox_env: SandboxHandle,
) -> None:
    from tasks.aws.session import AwsAccess
    from tasks.costs.cost_explorer import RequestCounter, sync_cost_explorer
    from tasks.costs.export import ExportLocation, discover_periods, read_period, to_cost_frame
    from tasks.costs.window import DayRange

    last_day = date.fromisoformat(sandbox_env.ground_truth["last_day"])
    month_end = last_day.replace(day=1) - timedelta(days=1)
    window = DayRange(month_end.replace(day=1), month_end + timedelta(days=1))
    access = AwsAccess()
    counter = RequestCounter()
    ce = sync_cost_explorer(
        access.client("ce", access.caller_account_id, "us-east-1"),
        window,
        access.caller_account_id,
        detail=("REGION", "RECORD_TYPE"),
        counter=counter,
    )
    # One discovery pass per detail dimension, then one pass per (region, record type).
    assert counter.requests > 2
    location = ExportLocation("s3://finops-sandbox-cur/cur", "finops-focus")
    folded, _ = read_period(location, discover_periods(location)[month_end.strftime("%Y-%m")])
    export = to_cost_frame(folded)
    # FOCUS shows a commitment's unused share as Usage (status Unused); Cost Explorer counts it
    # in the amortised recurring fee (RECORD_TYPE SavingsPlanRecurringFee/RIFee: a Purchase).
    unused = export["commitment_discount_status"].eq("Unused")
    export.loc[unused, "charge_category"] = "Purchase"
    keys = ["charge_date", "sub_account_id", "service", "region", "charge_category"]
    for column in ("billed_cost", "effective_cost"):
        pd.testing.assert_series_equal(
            cents_by(ce, keys, column), cents_by(export, keys, column), check_names=False
        )
    assert {"Usage", "Purchase", "Tax"} <= set(ce["charge_category"])


def test_cost_explorer_refusals_are_one_line_over_the_real_protocol(
    sandbox_env: SandboxHandle,
) -> None:
    from tasks.aws.session import AwsAccess
    from tasks.costs.cost_explorer import CostExplorerError, sync_cost_explorer
    from tasks.costs.window import DayRange

    access = AwsAccess()
    client = access.client("ce", access.caller_account_id, "us-east-1")
    first_day = date.fromisoformat(sandbox_env.ground_truth["first_day"])
    # Before the first day with cost data: DataUnavailableException.
    before = DayRange(first_day - timedelta(days=3), first_day + timedelta(days=1))
    with pytest.raises(CostExplorerError, match="DataUnavailableException: Cost Explorer has no"):
        sync_cost_explorer(client, before, access.caller_account_id)
    # A range starting tomorrow: Cost Explorer's ValidationException, passed on in one line.
    tomorrow = date.fromisoformat(sandbox_env.ground_truth["last_day"]) + timedelta(days=2)
    with pytest.raises(CostExplorerError, match="ValidationException") as caught:
        sync_cost_explorer(
            client, DayRange(tomorrow, tomorrow + timedelta(days=1)), access.caller_account_id
        )
    assert "\n" not in str(caught.value)
