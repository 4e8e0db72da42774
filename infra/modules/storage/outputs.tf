output "cost_store_bucket" {
  description = "Name of the cost-store bucket."
  value       = aws_s3_bucket.cost_store.bucket
}

output "cost_store_bucket_arn" {
  description = "ARN of the cost-store bucket."
  value       = aws_s3_bucket.cost_store.arn
}

output "cost_store_url" {
  description = "FINOPS_COSTS__STORE_URL for the flows."
  value       = "s3://${aws_s3_bucket.cost_store.bucket}/costs"
}

output "audit_bucket" {
  description = "Name of the audit bucket."
  value       = aws_s3_bucket.audit.bucket
}

output "audit_bucket_arn" {
  description = "ARN of the audit bucket."
  value       = aws_s3_bucket.audit.arn
}

output "audit_log_url" {
  description = "FINOPS_REMEDIATION__AUDIT_LOG_URL for the flows."
  value       = "s3://${aws_s3_bucket.audit.bucket}/audit"
}

output "results_bucket" {
  description = "Bucket of Prefect flow results (the s3-bucket block of the flows)."
  value       = aws_s3_bucket.results.bucket
}

output "results_bucket_arn" {
  description = "ARN of the results bucket."
  value       = aws_s3_bucket.results.arn
}
