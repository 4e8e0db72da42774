-- The findings database exactly as main wrote it before migrations (commit 1c96edf): tables
-- made by SQLAlchemy create_all from tasks/findings/store.py, tasks/anomalies/store.py,
-- tasks/notify/outbox.py and tasks/remediation/ledger.py, no alembic_version table, with real
-- rows written through the stores (a finding with its history and an observation, an anomaly
-- with its history, a sent outbox message, a remediation ledger entry with a checkpoint).
-- Produced with sqlite3's iterdump(); tests/test_findings_migrations.py opens it with the new code.
BEGIN TRANSACTION;
CREATE TABLE cost_anomalies (
	anomaly_id VARCHAR(20) NOT NULL, 
	monitor_id VARCHAR(400) NOT NULL, 
	monitor_type VARCHAR(32) NOT NULL, 
	monitor_value VARCHAR(360) NOT NULL, 
	direction VARCHAR(16) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	start_date DATE NOT NULL, 
	end_date DATE NOT NULL, 
	peak_date DATE NOT NULL, 
	last_judged DATE NOT NULL, 
	days INTEGER NOT NULL, 
	total_actual_usd NUMERIC(14, 2) NOT NULL, 
	total_expected_usd NUMERIC(14, 2) NOT NULL, 
	total_impact_usd NUMERIC(14, 2) NOT NULL, 
	impact_pct FLOAT, 
	max_score FLOAT NOT NULL, 
	alert BOOLEAN NOT NULL, 
	root_causes JSON NOT NULL, 
	first_seen DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	alerted_at DATETIME, 
	PRIMARY KEY (anomaly_id)
);
INSERT INTO "cost_anomalies" VALUES('a1b2c3d4e5f6a7b8c9d0','service|Amazon EC2','service','Amazon EC2','increase','spike','acknowledged','2026-11-18','2026-11-20','2026-11-19','2026-11-20',3,1500,900,600,66.67,5.1234,1,'[{"dimension": "region", "value": "us-east-1", "impact": 550.0}]','2026-11-20 06:00:00.000000','2026-11-21 06:00:00.000000','2026-11-20 06:00:00.000000');
CREATE TABLE cost_anomaly_history (
	id INTEGER NOT NULL, 
	anomaly_id VARCHAR(20) NOT NULL, 
	from_status VARCHAR(16), 
	to_status VARCHAR(16) NOT NULL, 
	actor VARCHAR(128) NOT NULL, 
	reason TEXT NOT NULL, 
	at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(anomaly_id) REFERENCES cost_anomalies (anomaly_id)
);
INSERT INTO "cost_anomaly_history" VALUES(1,'a1b2c3d4e5f6a7b8c9d0','open','acknowledged','ana','known','2026-11-21 06:00:00.000000');
CREATE TABLE finding_history (
	id INTEGER NOT NULL, 
	fingerprint VARCHAR(64) NOT NULL, 
	from_status VARCHAR(16), 
	to_status VARCHAR(16) NOT NULL, 
	actor VARCHAR(128) NOT NULL, 
	reason TEXT NOT NULL, 
	at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(fingerprint) REFERENCES findings (fingerprint)
);
INSERT INTO "finding_history" VALUES(1,'164ea4c4e8e48b99de90',NULL,'open','scan','first seen','2026-11-20 06:00:00.000000');
INSERT INTO "finding_history" VALUES(2,'164ea4c4e8e48b99de90','open','notified','report','digest','2026-11-21 06:00:00.000000');
CREATE TABLE findings (
	fingerprint VARCHAR(64) NOT NULL, 
	"check" VARCHAR(64) NOT NULL, 
	account_id VARCHAR(12) NOT NULL, 
	region VARCHAR(32) NOT NULL, 
	resource_id VARCHAR(255) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	monthly_savings_usd NUMERIC(14, 2), 
	payload JSON NOT NULL, 
	first_seen DATETIME NOT NULL, 
	last_seen DATETIME NOT NULL, 
	snoozed_until DATETIME, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (fingerprint)
);
INSERT INTO "findings" VALUES('164ea4c4e8e48b99de90','ebs-unattached','111111111111','us-east-1','vol-0abc','notified',8,'{"check": "ebs-unattached", "account_id": "111111111111", "region": "us-east-1", "resource_id": "vol-0abc", "resource_arn": "arn:aws:ec2:us-east-1:111111111111:volume/vol-0abc", "resource_type": "AWS::EC2::Volume", "title": "Unattached 100 GiB gp3 volume", "monthly_savings_usd": "8.00", "risk": "low", "evidence": {"size_gib": 100}, "recommended_actions": ["snapshot-and-delete"], "tags": {"team": "data"}, "owner": "ana", "detected_at": "2026-11-20T06:00:00Z", "fingerprint": "164ea4c4e8e48b99de90"}','2026-11-20 06:00:00.000000','2026-11-20 06:00:00.000000',NULL,'2026-11-21 06:00:00.000000');
CREATE TABLE notify_outbox (
	id INTEGER NOT NULL, 
	"key" VARCHAR(400) NOT NULL, 
	channel VARCHAR(16) NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	op VARCHAR(16) NOT NULL, 
	parent_key VARCHAR(400), 
	payload JSON NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	last_error TEXT NOT NULL, 
	result JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	sent_at DATETIME, 
	PRIMARY KEY (id)
);
INSERT INTO "notify_outbox" VALUES(1,'slack|digest|2026-11-21','slack','digest','post',NULL,'{"text": "1 finding, $8.00 a month"}','sent',1,'','{"ts": "1732170000.000100"}','2026-11-21 06:00:00.000000','2026-11-21 06:00:00.000000','2026-11-21 06:00:00.000000');
CREATE TABLE observations (
	"key" VARCHAR(400) NOT NULL, 
	first_seen DATETIME NOT NULL, 
	last_seen DATETIME NOT NULL, 
	PRIMARY KEY ("key")
);
INSERT INTO "observations" VALUES('unattached|111111111111|us-east-1|vol-0abc','2026-11-20 06:00:00.000000','2026-11-20 06:00:00.000000');
CREATE TABLE remediation_actions (
	id INTEGER NOT NULL, 
	approval_id VARCHAR(64) NOT NULL, 
	fingerprint VARCHAR(64) NOT NULL, 
	action VARCHAR(64) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	approver VARCHAR(128) NOT NULL, 
	comment TEXT NOT NULL, 
	checkpoints JSON NOT NULL, 
	result JSON NOT NULL, 
	attempts INTEGER NOT NULL, 
	due_at DATETIME, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (approval_id, fingerprint, action)
);
INSERT INTO "remediation_actions" VALUES(1,'run-1','164ea4c4e8e48b99de90','snapshot-and-delete','in_progress','ana','ok','{"snapshot_id": "snap-0123"}','{}',1,NULL,'2026-11-22 09:30:00.000000','2026-11-22 09:30:00.000000');
CREATE INDEX ix_cost_anomalies_start_date ON cost_anomalies (start_date);
CREATE INDEX ix_cost_anomalies_monitor_id ON cost_anomalies (monitor_id);
CREATE INDEX ix_cost_anomalies_status ON cost_anomalies (status);
CREATE INDEX ix_findings_status ON findings (status);
CREATE INDEX ix_findings_check ON findings ("check");
CREATE INDEX ix_findings_account_id ON findings (account_id);
CREATE INDEX ix_notify_outbox_status ON notify_outbox (status);
CREATE UNIQUE INDEX ix_notify_outbox_key ON notify_outbox ("key");
CREATE INDEX ix_notify_outbox_channel ON notify_outbox (channel);
CREATE INDEX ix_remediation_actions_status ON remediation_actions (status);
CREATE INDEX ix_remediation_actions_approval_id ON remediation_actions (approval_id);
CREATE INDEX ix_remediation_actions_fingerprint ON remediation_actions (fingerprint);
CREATE INDEX ix_cost_anomaly_history_anomaly_id ON cost_anomaly_history (anomaly_id);
CREATE INDEX ix_finding_history_fingerprint ON finding_history (fingerprint);
COMMIT;
