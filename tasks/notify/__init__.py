"""Reporting: Slack, Jira, SNS, Bedrock summaries and Prefect artifacts, with nothing lost.

Layers:

- pure: ``models`` (inputs), ``render`` (Slack Block Kit digest and alerts, templates, SNS JSON),
  ``issues`` (Jira issue specs), ``narrate`` (figure check for model-written text), ``plan``
  (messages with idempotency keys), ``chart`` (30-day PNG), ``preview`` (artifact markdown),
  ``inputs`` (mapping of the anomaly flow's and the idle scan's results onto ``DigestInput``);
- adapters: ``slack``, ``jira_client``, ``sns``, ``bedrock``, ``secrets``, ``outbox`` (table
  ``notify_outbox`` in the findings database) and ``deliver`` (outbox -> channels);
- Prefect: ``tasks`` and the flows in ``flows/report.py`` (``report``, ``alert-anomalies``).
"""
