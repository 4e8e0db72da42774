# Example environment: the whole FinOps platform in the management (payer) account.
#   terraform init && terraform plan -var-file=example.tfvars

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account = data.aws_caller_identity.current.account_id
}

# One customer-managed key for buckets, topic, queues, logs and secrets.
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key; the root statement is the AWS-recommended delegation to IAM.
  #checkov:skip=CKV_AWS_111:As above: key policies are scoped to their key by definition.
  #checkov:skip=CKV_AWS_356:As above: "*" in a key policy is this key.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account}:root"]
    }
  }
  statement {
    sid       = "ServicesEncrypt"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type = "Service"
      identifiers = [
        "budgets.amazonaws.com",
        "costalerts.amazonaws.com",
        "events.amazonaws.com",
        "sns.amazonaws.com",
      ]
    }
  }
  statement {
    sid       = "LogsEncrypt"
    actions   = ["kms:Decrypt*", "kms:Describe*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${var.region}:${local.account}:log-group:/${var.name_prefix}/*"]
    }
  }
}

resource "aws_kms_key" "finops" {
  description         = "FinOps platform: cost store, audit log, events, logs, secrets"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "finops" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.finops.key_id
}

module "storage" {
  source               = "../../modules/storage"
  name_prefix          = var.name_prefix
  kms_key_arn          = aws_kms_key.finops.arn
  access_log_bucket    = var.access_log_bucket
  audit_retention_days = var.audit_retention_days
  audit_lock_mode      = var.audit_lock_mode
}

module "events" {
  source                 = "../../modules/events"
  name_prefix            = var.name_prefix
  kms_key_arn            = aws_kms_key.finops.arn
  daily_budget_usd       = var.daily_budget_usd
  anomaly_min_impact_usd = var.anomaly_min_impact_usd
}

module "ecs" {
  source                 = "../../modules/ecs"
  name_prefix            = var.name_prefix
  region                 = var.region
  vpc_id                 = var.vpc_id
  subnet_ids             = var.subnet_ids
  kms_key_arn            = aws_kms_key.finops.arn
  image                  = var.image
  prefect_api_url        = var.prefect_api_url
  execution_role_arn     = module.iam.execution_role_arn
  worker_task_role_arn   = module.iam.worker_task_role_arn
  listener_task_role_arn = module.iam.listener_task_role_arn
  log_retention_days     = var.log_retention_days
  environment            = local.flow_environment
}

module "iam" {
  source                = "../../modules/iam"
  name_prefix           = var.name_prefix
  kms_key_arn           = aws_kms_key.finops.arn
  secret_arns           = values(module.ecs.secret_arns)
  cost_store_bucket_arn = module.storage.cost_store_bucket_arn
  audit_bucket_arn      = module.storage.audit_bucket_arn
  results_bucket_arn    = module.storage.results_bucket_arn
  export_bucket_arn     = var.export_bucket_arn
  topic_arn             = module.events.topic_arn
  queue_arn             = module.events.queue_arn
  dead_letter_queue_arn = module.events.dead_letter_queue_arn
  cluster_arn           = module.ecs.cluster_arn
  log_group_arn         = module.ecs.flow_log_group_arn
  member_role_name      = var.member_role_name
  bedrock_model_id      = var.bedrock_model_id
}

locals {
  # Settings of the services and of every flow run (tasks.settings; FINOPS_* variables).
  flow_environment = {
    FINOPS_COSTS__STORE_URL              = module.storage.cost_store_url
    FINOPS_REMEDIATION__AUDIT_LOG_URL    = module.storage.audit_log_url
    FINOPS_NOTIFY__SNS_TOPIC_ARN         = module.events.topic_arn
    FINOPS_NOTIFY__BEDROCK_MODEL_ID      = var.bedrock_model_id
    FINOPS_NOTIFY__SLACK_CHANNEL         = var.slack_channel
    FINOPS_NOTIFY__JIRA_URL              = var.jira_url
    FINOPS_NOTIFY__JIRA_EMAIL            = var.jira_email
    FINOPS_AWS__MEMBER_ROLE_NAME         = var.member_role_name
    FINOPS_BUDGET__DAILY_USD             = format("%.2f", var.daily_budget_usd)
    FINOPS_EVENTS__QUEUE_URL             = module.events.queue_url
    FINOPS_EVENTS__DEAD_LETTER_QUEUE_URL = module.events.dead_letter_queue_url
    FINOPS_REMEDIATION__WAIT_MODE        = "suspend"
    PREFECT_RESULTS_PERSIST_BY_DEFAULT   = "true"
    # A suspended approval run resumes in a new task: its results live in the results bucket,
    # through this block (`finops deploy results-block --bucket <results_bucket>` creates it).
    PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK = "s3-bucket/${var.name_prefix}-results"
  }
}
