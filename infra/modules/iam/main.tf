# Roles of the ECS tasks.  The flow task role's actions equal what the code declares
# (tasks/permissions.py; tests/test_infra_iam.py compares them): a read-only scan policy,
# a pipeline policy for the project's own buckets and topic, and a remediation policy whose
# writes are conditioned on tags and explicitly denied on finops:protected=true resources.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  # KEY=VALUE of the tag that puts a resource out of remediation's reach (FINOPS_IDLE__PROTECTED_TAG).
  protected_key   = split("=", var.protected_tag)[0]
  protected_value = split("=", var.protected_tag)[1]
}

data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

# --- task execution role: pull the image, write logs, read the two channel secrets -------------

resource "aws_iam_role" "execution" {
  name               = "${var.name_prefix}-ecs-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "execution_managed" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secrets" {
  statement {
    sid       = "ReadChannelSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = var.secret_arns
  }
  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  name   = "secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution_secrets.json
}

# --- flow task role ------------------------------------------------------------------------------

resource "aws_iam_role" "flow" {
  name               = "${var.name_prefix}-flow-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scan" {
  #checkov:skip=CKV_AWS_356:Describe/List/Get calls of the scan have no resource-level scope (EC2, ELB, RDS, CloudWatch, CE, Pricing); they read every resource of every region by design.
  statement {
    sid = "ReadOnlyScan"
    actions = [
      "budgets:ViewBudget",
      "ce:GetAnomalies",
      "ce:GetCostAndUsage",
      "ce:GetReservationCoverage",
      "ce:GetReservationPurchaseRecommendation",
      "ce:GetReservationUtilization",
      "ce:GetSavingsPlansCoverage",
      "ce:GetSavingsPlansPurchaseRecommendation",
      "ce:GetSavingsPlansUtilization",
      "cloudwatch:GetMetricData",
      "compute-optimizer:GetEBSVolumeRecommendations",
      "compute-optimizer:GetEC2InstanceRecommendations",
      "compute-optimizer:GetEnrollmentStatus",
      "compute-optimizer:GetEnrollmentStatusesForOrganization",
      "cost-optimization-hub:ListEnrollmentStatuses",
      "cost-optimization-hub:ListRecommendations",
      "ec2:DescribeAddresses",
      "ec2:DescribeImages",
      "ec2:DescribeInstances",
      "ec2:DescribeNatGateways",
      "ec2:DescribeRegions",
      "ec2:DescribeSnapshots",
      "ec2:DescribeVolumes",
      "elasticloadbalancing:DescribeInstanceHealth",
      "elasticloadbalancing:DescribeLoadBalancers",
      "elasticloadbalancing:DescribeTags",
      "elasticloadbalancing:DescribeTargetGroups",
      "elasticloadbalancing:DescribeTargetHealth",
      "organizations:ListAccounts",
      "pricing:GetProducts",
      "rds:DescribeDBInstances",
      "rds:ListTagsForResource",
      "s3:GetBucketLocation",
      "s3:GetBucketTagging",
      "s3:GetLifecycleConfiguration",
      "s3:ListAllMyBuckets",
      "s3:ListBucketMultipartUploads",
      "s3:ListMultipartUploadParts",
      "savingsplans:DescribeSavingsPlans",
      "savingsplans:DescribeSavingsPlansOfferings",
      "sts:GetCallerIdentity",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "AssumeMemberReadRole"
    actions   = ["sts:AssumeRole"]
    resources = ["arn:${local.partition}:iam::*:role/${var.member_role_name}"]
  }
}

data "aws_iam_policy_document" "pipeline" {
  statement {
    # finops ingest --source athena: the fold as SQL over the export's Glue table
    sid = "AthenaFold"
    actions = [
      "athena:GetQueryExecution",
      "athena:GetQueryResults",
      "athena:GetWorkGroup",
      "athena:StartQueryExecution",
      "athena:StopQueryExecution",
      "glue:GetPartitions",
      "glue:GetTable",
    ]
    resources = ["*"]
  }
  statement {
    # a person's verdict on an anomaly sent back to AWS Cost Anomaly Detection
    sid       = "AnomalyFeedback"
    actions   = ["ce:ProvideAnomalyFeedback"]
    resources = ["*"]
  }
  statement {
    sid       = "ListStores"
    actions   = ["s3:ListBucket"]
    resources = compact([var.cost_store_bucket_arn, var.audit_bucket_arn, var.results_bucket_arn, var.export_bucket_arn])
  }
  statement {
    # Prefect persists flow results here (same S3 actions as the stores' adapters).
    sid       = "FlowResults"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.results_bucket_arn}/*"]
  }
  statement {
    sid       = "CostStoreReadWrite"
    actions   = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = ["${var.cost_store_bucket_arn}/*"]
  }
  statement {
    # Append-only: no DeleteObject, and object lock keeps every version anyway.
    sid       = "AuditAppend"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.audit_bucket_arn}/*"]
  }
  statement {
    sid       = "ReadCostExport"
    actions   = ["s3:GetObject"]
    resources = compact([var.export_bucket_arn == "" ? "" : "${var.export_bucket_arn}/*"])
  }
  statement {
    # Read only: the code path never writes state (changes go through a pull request).
    sid       = "ReadTerraformState"
    actions   = ["s3:GetObject"]
    resources = var.terraform_state_object_arns
  }
  statement {
    sid       = "PublishSummary"
    actions   = ["sns:Publish"]
    resources = [var.topic_arn]
  }
  statement {
    sid       = "DaySummary"
    actions   = ["bedrock:InvokeModel"]
    resources = ["arn:${local.partition}:bedrock:*::foundation-model/${var.bedrock_model_id}"]
  }
  statement {
    sid       = "UseProjectKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

data "aws_iam_policy_document" "remediation" {
  #checkov:skip=CKV_AWS_356:Re-checks before acting read instances/volumes/snapshots/images/tags, which have no resource-level scope; writes below are tag-conditioned and denied on protected resources.
  #checkov:skip=CKV_AWS_111:Write actions are constrained by tag conditions and an explicit Deny on finops:protected, not by resource ARNs: the resources are found at scan time in any account and region.
  statement {
    sid = "RecheckBeforeActing"
    actions = [
      "cloudwatch:GetMetricStatistics",
      "ec2:DescribeAddresses",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceStatus",
      "ec2:DescribeInstances",
      "ec2:DescribeNatGateways",
      "ec2:DescribeSnapshots",
      "ec2:DescribeTags",
      "ec2:DescribeVolumes",
      "elasticloadbalancing:DescribeLoadBalancers",
      "elasticloadbalancing:DescribeTags",
      "rds:DescribeDBInstances",
      "rds:ListTagsForResource",
      "s3:GetBucketTagging",
      "s3:GetLifecycleConfiguration",
    ]
    resources = ["*"]
  }
  statement {
    sid = "ActOnUnprotected"
    actions = [
      "ec2:CreateImage",
      "ec2:CreateSnapshot",
      "ec2:DeleteSnapshot",
      "ec2:DeleteVolume",
      "ec2:ModifyInstanceAttribute",
      "ec2:ModifyVolume",
      "ec2:ReleaseAddress",
      "ec2:StartInstances",
      "ec2:StopInstances",
      "ec2:TerminateInstances",
      "rds:StopDBInstance",
      "s3:PutLifecycleConfiguration",
    ]
    resources = ["*"]
    # A missing tag counts as "not protected"; the Deny below catches the protected ones.
    condition {
      test     = "StringNotEquals"
      variable = "aws:ResourceTag/${local.protected_key}"
      values   = [local.protected_value]
    }
  }
  statement {
    # Tags the flow writes: backups it creates, and the finops: markers of tag_for_later.
    sid = "FinopsTagsOnly"
    actions = [
      "ec2:CreateTags",
      "ec2:DeleteTags",
      "elasticloadbalancing:AddTags",
      "elasticloadbalancing:RemoveTags",
      "rds:AddTagsToResource",
      "rds:RemoveTagsFromResource",
    ]
    resources = ["*"]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "aws:TagKeys"
      values   = ["finops:*", "Name"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "aws:ResourceTag/${local.protected_key}"
      values   = [local.protected_value]
    }
  }
  statement {
    sid    = "NeverTouchProtected"
    effect = "Deny"
    actions = [
      "ec2:CreateImage",
      "ec2:CreateSnapshot",
      "ec2:CreateTags",
      "ec2:DeleteSnapshot",
      "ec2:DeleteTags",
      "ec2:DeleteVolume",
      "ec2:ModifyInstanceAttribute",
      "ec2:ModifyVolume",
      "ec2:ReleaseAddress",
      "ec2:StartInstances",
      "ec2:StopInstances",
      "ec2:TerminateInstances",
      "elasticloadbalancing:AddTags",
      "elasticloadbalancing:RemoveTags",
      "rds:AddTagsToResource",
      "rds:RemoveTagsFromResource",
      "rds:StopDBInstance",
      "s3:PutLifecycleConfiguration",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.protected_key}"
      values   = [local.protected_value]
    }
  }
  statement {
    # Nobody may lift the protection through this role.
    sid       = "NeverUnprotect"
    effect    = "Deny"
    actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
    resources = ["*"]
    condition {
      test     = "ForAnyValue:StringEquals"
      variable = "aws:TagKeys"
      values   = [local.protected_key]
    }
  }
}

resource "aws_iam_role_policy" "scan" {
  name   = "scan-read-only"
  role   = aws_iam_role.flow.id
  policy = data.aws_iam_policy_document.scan.json
}

resource "aws_iam_role_policy" "pipeline" {
  name   = "pipeline"
  role   = aws_iam_role.flow.id
  policy = data.aws_iam_policy_document.pipeline.json
}

resource "aws_iam_role_policy" "remediation" {
  name   = "remediation-tag-conditioned"
  role   = aws_iam_role.flow.id
  policy = data.aws_iam_policy_document.remediation.json
}

# --- Prefect ECS worker: starts one Fargate task per flow run ------------------------------------

resource "aws_iam_role" "worker" {
  name               = "${var.name_prefix}-prefect-worker"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "worker" {
  #checkov:skip=CKV_AWS_356:ECS RegisterTaskDefinition/DescribeTaskDefinition and EC2 Describe* have no resource-level scope.
  statement {
    sid = "RunFlowTasks"
    actions = [
      "ecs:DescribeTasks",
      "ecs:RunTask",
      "ecs:StopTask",
      "ecs:TagResource",
    ]
    resources = ["*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [var.cluster_arn]
    }
  }
  statement {
    sid = "TaskDefinitions"
    actions = [
      "ecs:DeregisterTaskDefinition",
      "ecs:DescribeTaskDefinition",
      "ecs:RegisterTaskDefinition",
      "ec2:DescribeSubnets",
      "ec2:DescribeVpcs",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "PassFlowRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.execution.arn, aws_iam_role.flow.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid       = "ReadFlowLogs"
    actions   = ["logs:GetLogEvents"]
    resources = ["${var.log_group_arn}:*"]
  }
}

resource "aws_iam_role_policy" "worker" {
  name   = "run-flow-tasks"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.worker.json
}

# --- listener: read the queue, dead-letter the unclassifiable --------------------------------

resource "aws_iam_role" "listener" {
  name               = "${var.name_prefix}-listener"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "listener" {
  statement {
    sid       = "ConsumeEvents"
    actions   = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"]
    resources = [var.queue_arn]
  }
  statement {
    sid       = "DeadLetter"
    actions   = ["sqs:SendMessage"]
    resources = [var.dead_letter_queue_arn]
  }
  statement {
    sid       = "QueueKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "listener" {
  name   = "consume-events"
  role   = aws_iam_role.listener.id
  policy = data.aws_iam_policy_document.listener.json
}
