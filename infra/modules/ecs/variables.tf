variable "name_prefix" {
  description = "Prefix of every resource name; also the cluster name."
  type        = string
}

variable "region" {
  description = "Region of the cluster and log groups."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the tasks."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (with a NAT or VPC endpoints) for the services and flow tasks."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for log groups and secrets."
  type        = string
}

variable "image" {
  description = "The flow image (Dockerfile), e.g. <account>.dkr.ecr.<region>.amazonaws.com/finops-flows:<sha>."
  type        = string
}

variable "prefect_api_url" {
  description = "Prefect API URL the worker, listener and flows use (Prefect Cloud workspace or self-hosted server)."
  type        = string
}

variable "work_pool_name" {
  description = "Prefect work pool the worker serves (prefect.yaml uses \"ecs\")."
  type        = string
  default     = "ecs"
}

variable "execution_role_arn" {
  description = "Task execution role."
  type        = string
}

variable "worker_task_role_arn" {
  description = "Task role of the Prefect worker service."
  type        = string
}

variable "listener_task_role_arn" {
  description = "Task role of the listener service."
  type        = string
}

variable "environment" {
  description = "FINOPS_* settings for the services and flows (non-secret)."
  type        = map(string)
  default     = {}
}

variable "secret_names" {
  description = "Secrets Manager entries to create: key => description."
  type        = map(string)
  default = {
    "slack-bot-token" = "Slack bot token (xoxb-...) for the FinOps reports"
    "jira-api-token"  = "Jira API token (Cloud) or personal access token (Server/DC)"
    "prefect-api-key" = "Prefect API key of the worker, listener and flows"
  }
}

variable "secret_env" {
  description = "Secret key => environment variable it is injected as."
  type        = map(string)
  default = {
    "slack-bot-token" = "FINOPS_NOTIFY__SLACK_BOT_TOKEN"
    "jira-api-token"  = "FINOPS_NOTIFY__JIRA_API_TOKEN"
    "prefect-api-key" = "PREFECT_API_KEY"
  }
}

variable "log_retention_days" {
  description = "CloudWatch log retention, days."
  type        = number
  default     = 400
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
