variable "name_prefix" {
  description = "Prefix of every resource name, e.g. \"finops\"; the account id is appended to bucket names."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting both buckets."
  type        = string
}

variable "access_log_bucket" {
  description = "Existing bucket receiving S3 server access logs (the landing zone's log bucket)."
  type        = string
}

variable "cost_store_noncurrent_days" {
  description = "Days a replaced cost-store file version is kept."
  type        = number
  default     = 30
}

variable "audit_retention_days" {
  description = "Object-lock retention of each audit record, days."
  type        = number
  default     = 400
}

variable "audit_lock_mode" {
  description = "Object-lock mode of the audit bucket: COMPLIANCE (immutable) or GOVERNANCE."
  type        = string
  default     = "COMPLIANCE"
  validation {
    condition     = contains(["COMPLIANCE", "GOVERNANCE"], var.audit_lock_mode)
    error_message = "Use COMPLIANCE or GOVERNANCE."
  }
}

variable "results_days" {
  description = "Days Prefect flow results are kept; keep it above the approval timeout."
  type        = number
  default     = 14
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
