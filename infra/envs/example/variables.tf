variable "region" {
  description = "Region of the platform (ECS, queue, buckets). Cost Explorer and Budgets are global."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "finops"
}

variable "vpc_id" {
  description = "Existing VPC for the ECS tasks."
  type        = string
}

variable "subnet_ids" {
  description = "Existing private subnets of vpc_id with outbound HTTPS (NAT or VPC endpoints)."
  type        = list(string)
}

variable "image" {
  description = "Flow image pushed by CI, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/finops-flows:<sha>."
  type        = string
}

variable "prefect_api_url" {
  description = "Prefect API URL (Prefect Cloud workspace URL or self-hosted server /api)."
  type        = string
}

variable "access_log_bucket" {
  description = "Existing bucket receiving S3 server access logs."
  type        = string
}

variable "export_bucket_arn" {
  description = "ARN of the CUR 2.0 / FOCUS data export bucket; \"\" to use Cost Explorer only."
  type        = string
  default     = ""
}

variable "daily_budget_usd" {
  description = "AWS Budget on total daily cost, USD."
  type        = number
  default     = 1000
}

variable "anomaly_min_impact_usd" {
  description = "Cost Anomaly Detection notifies from this total impact, USD."
  type        = number
  default     = 100
}

variable "member_role_name" {
  description = "Role the scan assumes in member accounts."
  type        = string
  default     = "OrganizationAccountAccessRole"
}

variable "bedrock_model_id" {
  description = "Bedrock model for the day summary."
  type        = string
  default     = "anthropic.claude-3-haiku-20240307-v1:0"
}

variable "slack_channel" {
  description = "Slack channel of the reports (the bot token is a secret)."
  type        = string
  default     = ""
}

variable "jira_url" {
  description = "Jira base URL; \"\" turns Jira off."
  type        = string
  default     = ""
}

variable "jira_email" {
  description = "Jira Cloud user of the API token."
  type        = string
  default     = ""
}

variable "audit_retention_days" {
  description = "Object-lock retention of audit records, days."
  type        = number
  default     = 400
}

variable "audit_lock_mode" {
  description = "COMPLIANCE or GOVERNANCE."
  type        = string
  default     = "COMPLIANCE"
}

variable "log_retention_days" {
  description = "CloudWatch log retention, days."
  type        = number
  default     = 400
}

variable "tags" {
  description = "Default tags of every resource."
  type        = map(string)
  default     = { project = "finops-flows" }
}
