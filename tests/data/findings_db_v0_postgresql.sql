-- The findings database exactly as main wrote it before migrations (commit 1c96edf): tables
-- made by SQLAlchemy create_all from tasks/findings/store.py, tasks/anomalies/store.py,
-- tasks/notify/outbox.py and tasks/remediation/ledger.py, no alembic_version table, with real
-- rows written through the stores (a finding with its history and an observation, an anomaly
-- with its history, a sent outbox message, a remediation ledger entry with a checkpoint).
-- Produced on PostgreSQL 15 with pg_dump --inserts --no-owner --no-privileges
-- (psql meta-commands and comments removed); tests/test_findings_migrations.py opens it with the new code.
SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

CREATE TABLE public.cost_anomalies (
    anomaly_id character varying(20) NOT NULL,
    monitor_id character varying(400) NOT NULL,
    monitor_type character varying(32) NOT NULL,
    monitor_value character varying(360) NOT NULL,
    direction character varying(16) NOT NULL,
    kind character varying(16) NOT NULL,
    status character varying(16) NOT NULL,
    start_date date NOT NULL,
    end_date date NOT NULL,
    peak_date date NOT NULL,
    last_judged date NOT NULL,
    days integer NOT NULL,
    total_actual_usd numeric(14,2) NOT NULL,
    total_expected_usd numeric(14,2) NOT NULL,
    total_impact_usd numeric(14,2) NOT NULL,
    impact_pct double precision,
    max_score double precision NOT NULL,
    alert boolean NOT NULL,
    root_causes json NOT NULL,
    first_seen timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    alerted_at timestamp with time zone
);

CREATE TABLE public.cost_anomaly_history (
    id integer NOT NULL,
    anomaly_id character varying(20) NOT NULL,
    from_status character varying(16),
    to_status character varying(16) NOT NULL,
    actor character varying(128) NOT NULL,
    reason text NOT NULL,
    at timestamp with time zone NOT NULL
);

CREATE SEQUENCE public.cost_anomaly_history_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.cost_anomaly_history_id_seq OWNED BY public.cost_anomaly_history.id;

CREATE TABLE public.finding_history (
    id integer NOT NULL,
    fingerprint character varying(64) NOT NULL,
    from_status character varying(16),
    to_status character varying(16) NOT NULL,
    actor character varying(128) NOT NULL,
    reason text NOT NULL,
    at timestamp with time zone NOT NULL
);

CREATE SEQUENCE public.finding_history_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.finding_history_id_seq OWNED BY public.finding_history.id;

CREATE TABLE public.findings (
    fingerprint character varying(64) NOT NULL,
    "check" character varying(64) NOT NULL,
    account_id character varying(12) NOT NULL,
    region character varying(32) NOT NULL,
    resource_id character varying(255) NOT NULL,
    status character varying(16) NOT NULL,
    monthly_savings_usd numeric(14,2),
    payload json NOT NULL,
    first_seen timestamp with time zone NOT NULL,
    last_seen timestamp with time zone NOT NULL,
    snoozed_until timestamp with time zone,
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE public.notify_outbox (
    id integer NOT NULL,
    key character varying(400) NOT NULL,
    channel character varying(16) NOT NULL,
    kind character varying(32) NOT NULL,
    op character varying(16) NOT NULL,
    parent_key character varying(400),
    payload json NOT NULL,
    status character varying(16) NOT NULL,
    attempts integer NOT NULL,
    last_error text NOT NULL,
    result json NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    sent_at timestamp with time zone
);

CREATE SEQUENCE public.notify_outbox_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.notify_outbox_id_seq OWNED BY public.notify_outbox.id;

CREATE TABLE public.observations (
    key character varying(400) NOT NULL,
    first_seen timestamp with time zone NOT NULL,
    last_seen timestamp with time zone NOT NULL
);

CREATE TABLE public.remediation_actions (
    id integer NOT NULL,
    approval_id character varying(64) NOT NULL,
    fingerprint character varying(64) NOT NULL,
    action character varying(64) NOT NULL,
    status character varying(16) NOT NULL,
    approver character varying(128) NOT NULL,
    comment text NOT NULL,
    checkpoints json NOT NULL,
    result json NOT NULL,
    attempts integer NOT NULL,
    due_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE SEQUENCE public.remediation_actions_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.remediation_actions_id_seq OWNED BY public.remediation_actions.id;

ALTER TABLE ONLY public.cost_anomaly_history ALTER COLUMN id SET DEFAULT nextval('public.cost_anomaly_history_id_seq'::regclass);

ALTER TABLE ONLY public.finding_history ALTER COLUMN id SET DEFAULT nextval('public.finding_history_id_seq'::regclass);

ALTER TABLE ONLY public.notify_outbox ALTER COLUMN id SET DEFAULT nextval('public.notify_outbox_id_seq'::regclass);

ALTER TABLE ONLY public.remediation_actions ALTER COLUMN id SET DEFAULT nextval('public.remediation_actions_id_seq'::regclass);

INSERT INTO public.cost_anomalies VALUES ('a1b2c3d4e5f6a7b8c9d0', 'service|Amazon EC2', 'service', 'Amazon EC2', 'increase', 'spike', 'acknowledged', '2026-11-18', '2026-11-20', '2026-11-19', '2026-11-20', 3, 1500.00, 900.00, 600.00, 66.67, 5.1234, true, '[{"dimension": "region", "value": "us-east-1", "impact": 550.0}]', '2026-11-20 06:00:00+00', '2026-11-21 06:00:00+00', '2026-11-20 06:00:00+00');

INSERT INTO public.cost_anomaly_history VALUES (1, 'a1b2c3d4e5f6a7b8c9d0', 'open', 'acknowledged', 'ana', 'known', '2026-11-21 06:00:00+00');

INSERT INTO public.finding_history VALUES (1, '164ea4c4e8e48b99de90', NULL, 'open', 'scan', 'first seen', '2026-11-20 06:00:00+00');
INSERT INTO public.finding_history VALUES (2, '164ea4c4e8e48b99de90', 'open', 'notified', 'report', 'digest', '2026-11-21 06:00:00+00');

INSERT INTO public.findings VALUES ('164ea4c4e8e48b99de90', 'ebs-unattached', '111111111111', 'us-east-1', 'vol-0abc', 'notified', 8.00, '{"check": "ebs-unattached", "account_id": "111111111111", "region": "us-east-1", "resource_id": "vol-0abc", "resource_arn": "arn:aws:ec2:us-east-1:111111111111:volume/vol-0abc", "resource_type": "AWS::EC2::Volume", "title": "Unattached 100 GiB gp3 volume", "monthly_savings_usd": "8.00", "risk": "low", "evidence": {"size_gib": 100}, "recommended_actions": ["snapshot-and-delete"], "tags": {"team": "data"}, "owner": "ana", "detected_at": "2026-11-20T06:00:00Z", "fingerprint": "164ea4c4e8e48b99de90"}', '2026-11-20 06:00:00+00', '2026-11-20 06:00:00+00', NULL, '2026-11-21 06:00:00+00');

INSERT INTO public.notify_outbox VALUES (1, 'slack|digest|2026-11-21', 'slack', 'digest', 'post', NULL, '{"text": "1 finding, $8.00 a month"}', 'sent', 1, '', '{"ts": "1732170000.000100"}', '2026-11-21 06:00:00+00', '2026-11-21 06:00:00+00', '2026-11-21 06:00:00+00');

INSERT INTO public.observations VALUES ('unattached|111111111111|us-east-1|vol-0abc', '2026-11-20 06:00:00+00', '2026-11-20 06:00:00+00');

INSERT INTO public.remediation_actions VALUES (1, 'run-1', '164ea4c4e8e48b99de90', 'snapshot-and-delete', 'in_progress', 'ana', 'ok', '{"snapshot_id": "snap-0123"}', '{}', 1, NULL, '2026-11-22 09:30:00+00', '2026-11-22 09:30:00+00');

SELECT pg_catalog.setval('public.cost_anomaly_history_id_seq', 1, true);

SELECT pg_catalog.setval('public.finding_history_id_seq', 2, true);

SELECT pg_catalog.setval('public.notify_outbox_id_seq', 1, true);

SELECT pg_catalog.setval('public.remediation_actions_id_seq', 1, true);

ALTER TABLE ONLY public.cost_anomalies
    ADD CONSTRAINT cost_anomalies_pkey PRIMARY KEY (anomaly_id);

ALTER TABLE ONLY public.cost_anomaly_history
    ADD CONSTRAINT cost_anomaly_history_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.finding_history
    ADD CONSTRAINT finding_history_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.findings
    ADD CONSTRAINT findings_pkey PRIMARY KEY (fingerprint);

ALTER TABLE ONLY public.notify_outbox
    ADD CONSTRAINT notify_outbox_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.observations
    ADD CONSTRAINT observations_pkey PRIMARY KEY (key);

ALTER TABLE ONLY public.remediation_actions
    ADD CONSTRAINT remediation_actions_approval_id_fingerprint_action_key UNIQUE (approval_id, fingerprint, action);

ALTER TABLE ONLY public.remediation_actions
    ADD CONSTRAINT remediation_actions_pkey PRIMARY KEY (id);

CREATE INDEX ix_cost_anomalies_monitor_id ON public.cost_anomalies USING btree (monitor_id);

CREATE INDEX ix_cost_anomalies_start_date ON public.cost_anomalies USING btree (start_date);

CREATE INDEX ix_cost_anomalies_status ON public.cost_anomalies USING btree (status);

CREATE INDEX ix_cost_anomaly_history_anomaly_id ON public.cost_anomaly_history USING btree (anomaly_id);

CREATE INDEX ix_finding_history_fingerprint ON public.finding_history USING btree (fingerprint);

CREATE INDEX ix_findings_account_id ON public.findings USING btree (account_id);

CREATE INDEX ix_findings_check ON public.findings USING btree ("check");

CREATE INDEX ix_findings_status ON public.findings USING btree (status);

CREATE INDEX ix_notify_outbox_channel ON public.notify_outbox USING btree (channel);

CREATE UNIQUE INDEX ix_notify_outbox_key ON public.notify_outbox USING btree (key);

CREATE INDEX ix_notify_outbox_status ON public.notify_outbox USING btree (status);

CREATE INDEX ix_remediation_actions_approval_id ON public.remediation_actions USING btree (approval_id);

CREATE INDEX ix_remediation_actions_fingerprint ON public.remediation_actions USING btree (fingerprint);

CREATE INDEX ix_remediation_actions_status ON public.remediation_actions USING btree (status);

ALTER TABLE ONLY public.cost_anomaly_history
    ADD CONSTRAINT cost_anomaly_history_anomaly_id_fkey FOREIGN KEY (anomaly_id) REFERENCES public.cost_anomalies(anomaly_id);

ALTER TABLE ONLY public.finding_history
    ADD CONSTRAINT finding_history_fingerprint_fkey FOREIGN KEY (fingerprint) REFERENCES public.findings(fingerprint);
