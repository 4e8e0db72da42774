"""Cost ingestion: Cost Explorer and CUR 2.0 / FOCUS exports into a validated Parquet cost store.

Every source normalises into one FOCUS-aligned frame, :data:`tasks.costs.schema.COST_SCHEMA`:
one row per charge day x sub-account x service x region x charge category x usage type x source.

============================  ==========================================  ==========================
cost frame column             Cost Explorer (``source='ce'``)             FOCUS export ('export')
============================  ==========================================  ==========================
charge_date                   ``TimePeriod.Start`` (DAILY)                UTC day of
                                                                          ``ChargePeriodStart``
billing_period                month of the charge day                     ``BillingPeriodStart``
billing_account_id            the caller (management) account             ``BillingAccountId``
sub_account_id                ``LINKED_ACCOUNT``                          ``SubAccountId``
service / region              ``SERVICE`` / ``REGION`` (NoRegion -> '')   ``ServiceName`` /
                                                                          ``RegionId`` or
                                                                          ``RegionName``
charge_category               ``RECORD_TYPE`` mapped (see                 ``ChargeCategory``
                              ``RECORD_TYPE_CATEGORY``); without it       (refunds: usage type
                              Usage, Tax, or Credit when net negative     'Refund')
billed / effective / list     UnblendedCost / NetAmortizedCost / null     BilledCost /
                                                                          EffectiveCost / ListCost
usage_quantity, usage_unit    UsageQuantity (unit N/A -> null)            ConsumedQuantity / Unit
currency, tags                cost Unit, '{}'                             BillingCurrency,
                                                                          non-AWS ProviderName
estimated                     ``Estimated`` per day                       False
============================  ==========================================  ==========================

Modules, in the project's layers:

* pure: :mod:`~tasks.costs.window` (which days a run fetches), the ``transform_*`` /
  ``normalize_*`` functions, :mod:`~tasks.costs.quality` (the Great Expectations suite);
* adapters: :mod:`~tasks.costs.cost_explorer` (``GetCostAndUsage`` pages, counted at $0.01),
  :mod:`~tasks.costs.export` (manifests, file-by-file reading), :mod:`~tasks.costs.store`
  (``CostStore(url)``: ``replace_window``, ``read``, ``query``), composed in
  :mod:`~tasks.costs.sync`;
* Prefect: :mod:`~tasks.costs.tasks` and the ``ingest-costs`` flow in ``flows/ingest_costs.py``.

Example:
    >>> from tasks.costs.store import CostStore
    >>> CostStore(".finops/costs").read(columns=["charge_date", "effective_cost"])  # doctest: +SKIP
"""
