variable "name_prefix" {
  description = "Prefix of every resource name, e.g. \"finops\"."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting the topic and both queues (its policy must let budgets, costalerts, events and sns use it)."
  type        = string
}

variable "daily_budget_usd" {
  description = "AWS Budget on total daily cost, USD."
  type        = number
  default     = 1000
}

variable "budget_warning_pct" {
  description = "Early-warning threshold of the daily budget, percent (the other alert is at 100%)."
  type        = number
  default     = 80
}

variable "anomaly_min_impact_usd" {
  description = "Cost Anomaly Detection notifies the topic from this total impact, USD."
  type        = number
  default     = 100
}

variable "visibility_timeout_s" {
  description = "Seconds a received message stays hidden while the listener handles it."
  type        = number
  default     = 60
}

variable "max_receive_count" {
  description = "Receives before SQS moves a message to the dead-letter queue by itself."
  type        = number
  default     = 5
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
