# The cost store (Parquet, partitioned by day) and the append-only audit log of remediation.

data "aws_caller_identity" "current" {}

locals {
  cost_store_bucket = "${var.name_prefix}-cost-store-${data.aws_caller_identity.current.account_id}"
  audit_bucket      = "${var.name_prefix}-audit-${data.aws_caller_identity.current.account_id}"
  results_bucket    = "${var.name_prefix}-flow-results-${data.aws_caller_identity.current.account_id}"
}

resource "aws_s3_bucket" "cost_store" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is optional: the store is rebuilt from Cost Explorer or the CUR export.
  #checkov:skip=CKV2_AWS_62:No consumer reacts to object events in the cost store.
  bucket = local.cost_store_bucket
  tags   = var.tags
}

resource "aws_s3_bucket_versioning" "cost_store" {
  bucket = aws_s3_bucket.cost_store.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "cost_store" {
  bucket = aws_s3_bucket.cost_store.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "cost_store" {
  bucket                  = aws_s3_bucket.cost_store.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "cost_store" {
  bucket = aws_s3_bucket.cost_store.id
  rule {
    id     = "expire-replaced-versions"
    status = "Enabled"
    filter {}
    # A re-ingested day replaces its file; the previous version is kept for a while, then goes.
    noncurrent_version_expiration {
      noncurrent_days = var.cost_store_noncurrent_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_logging" "cost_store" {
  bucket        = aws_s3_bucket.cost_store.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${local.cost_store_bucket}/"
}

resource "aws_s3_bucket" "audit" {
  #checkov:skip=CKV_AWS_144:Object lock keeps the records immutable in place; replicate with the landing zone's log archive if required.
  #checkov:skip=CKV2_AWS_62:No consumer reacts to object events in the audit log.
  bucket              = local.audit_bucket
  object_lock_enabled = true
  tags                = var.tags
}

resource "aws_s3_bucket_versioning" "audit" {
  bucket = aws_s3_bucket.audit.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "audit" {
  bucket = aws_s3_bucket.audit.id
  rule {
    default_retention {
      # COMPLIANCE: not even the account root can shorten or delete a record before its time.
      mode = var.audit_lock_mode
      days = var.audit_retention_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.audit]
}

resource "aws_s3_bucket_server_side_encryption_configuration" "audit" {
  bucket = aws_s3_bucket.audit.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "audit" {
  bucket                  = aws_s3_bucket.audit.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "audit" {
  bucket = aws_s3_bucket.audit.id
  rule {
    id     = "archive"
    status = "Enabled"
    filter {}
    transition {
      days          = 90
      storage_class = "GLACIER_IR"
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_logging" "audit" {
  bucket        = aws_s3_bucket.audit.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${local.audit_bucket}/"
}

# Prefect results of flow runs: a run suspended for approval resumes in a new Fargate task,
# which reads its predecessor's results from here (the `s3-bucket/<prefix>-results` block).
resource "aws_s3_bucket" "results" {
  #checkov:skip=CKV_AWS_144:Results are transient (expired after results_days); nothing to replicate.
  #checkov:skip=CKV2_AWS_62:No consumer reacts to object events in the results bucket.
  bucket = local.results_bucket
  tags   = var.tags
}

resource "aws_s3_bucket_versioning" "results" {
  bucket = aws_s3_bucket.results.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "results" {
  bucket = aws_s3_bucket.results.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "results" {
  bucket                  = aws_s3_bucket.results.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "results" {
  bucket = aws_s3_bucket.results.id
  rule {
    id     = "expire"
    status = "Enabled"
    filter {}
    # Longer than the approval timeout (3 days by default), so a waiting run can always resume.
    expiration {
      days = var.results_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_logging" "results" {
  bucket        = aws_s3_bucket.results.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${local.results_bucket}/"
}

# Only TLS, for every bucket.
data "aws_iam_policy_document" "tls_only" {
  for_each = {
    cost_store = aws_s3_bucket.cost_store.arn
    audit      = aws_s3_bucket.audit.arn
    results    = aws_s3_bucket.results.arn
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value, "${each.value}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "cost_store" {
  bucket = aws_s3_bucket.cost_store.id
  policy = data.aws_iam_policy_document.tls_only["cost_store"].json
}

resource "aws_s3_bucket_policy" "audit" {
  bucket = aws_s3_bucket.audit.id
  policy = data.aws_iam_policy_document.tls_only["audit"].json
}

resource "aws_s3_bucket_policy" "results" {
  bucket = aws_s3_bucket.results.id
  policy = data.aws_iam_policy_document.tls_only["results"].json
}
