variable "name_prefix" {
  description = "Prefix of every role name, e.g. \"finops\"."
  type        = string
}

variable "kms_key_arn" {
  description = "The project's KMS key (buckets, topic, queues, secrets)."
  type        = string
}

variable "secret_arns" {
  description = "Secrets Manager ARNs the execution role injects into containers (Slack, Jira, Prefect API key)."
  type        = list(string)
}

variable "cost_store_bucket_arn" {
  description = "ARN of the cost-store bucket."
  type        = string
}

variable "audit_bucket_arn" {
  description = "ARN of the audit bucket."
  type        = string
}

variable "results_bucket_arn" {
  description = "ARN of the Prefect flow results bucket."
  type        = string
}

variable "export_bucket_arn" {
  description = "ARN of the CUR 2.0 / FOCUS data export bucket; \"\" when costs come from Cost Explorer only."
  type        = string
  default     = ""
}

variable "terraform_state_object_arns" {
  description = "ARNs of the Terraform state objects the scan reads to know which resources code owns (FINOPS_IAC__STATE_URLS); [] when none."
  type        = list(string)
  default     = []
}

variable "topic_arn" {
  description = "SNS topic receiving the flows' JSON summary."
  type        = string
}

variable "queue_arn" {
  description = "ARN of the listener queue."
  type        = string
}

variable "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue."
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster the worker starts flow tasks in."
  type        = string
}

variable "log_group_arn" {
  description = "CloudWatch log group of the flow tasks (the worker streams it)."
  type        = string
}

variable "member_role_name" {
  description = "Role assumed in member accounts for reading (FINOPS_AWS__MEMBER_ROLE_NAME)."
  type        = string
  default     = "OrganizationAccountAccessRole"
}

variable "protected_tag" {
  description = "KEY=VALUE of the tag that forbids remediation (FINOPS_IDLE__PROTECTED_TAG)."
  type        = string
  default     = "finops:protected=true"
  validation {
    condition     = length(split("=", var.protected_tag)) == 2
    error_message = "Use KEY=VALUE, e.g. finops:protected=true."
  }
}

variable "bedrock_model_id" {
  description = "Bedrock model allowed for the day summary (FINOPS_NOTIFY__BEDROCK_MODEL_ID)."
  type        = string
  default     = "anthropic.claude-3-haiku-20240307-v1:0"
}

variable "tags" {
  description = "Tags on every role."
  type        = map(string)
  default     = {}
}
