# `terraform output -json > tf.json && finops deploy pool-template --terraform-output tf.json`
# renders the ECS work pool's base job template from these names.

output "region" {
  description = "Region of the platform."
  value       = var.region
}

output "ecs_cluster_name" {
  description = "ECS cluster of the flow runs."
  value       = module.ecs.cluster_name
}

output "execution_role_arn" {
  description = "Task execution role."
  value       = module.iam.execution_role_arn
}

output "flow_task_role_arn" {
  description = "Flow task role (scan, pipeline, remediation policies)."
  value       = module.iam.flow_task_role_arn
}

output "vpc_id" {
  description = "VPC of the flow tasks."
  value       = var.vpc_id
}

output "subnet_ids" {
  description = "Subnets of the flow tasks."
  value       = var.subnet_ids
}

output "flow_security_group_id" {
  description = "Security group of the flow tasks."
  value       = module.ecs.security_group_id
}

output "log_group_name" {
  description = "Log group of the flow tasks."
  value       = module.ecs.flow_log_group_name
}

output "image_repository_url" {
  description = "Image repository (without tag) of the flows."
  value       = split(":", var.image)[0]
}

output "environment" {
  description = "FINOPS_* settings of every flow run."
  value       = local.flow_environment
}

output "secrets" {
  description = "Environment variable => Secrets Manager ARN injected into every flow run."
  value       = module.ecs.secrets_by_env
}

output "events_queue_url" {
  description = "Queue of the listener."
  value       = module.events.queue_url
}

output "events_dlq_url" {
  description = "Dead-letter queue of the listener."
  value       = module.events.dead_letter_queue_url
}

output "topic_arn" {
  description = "SNS topic (Budgets, Cost Anomaly Detection, flow summaries)."
  value       = module.events.topic_arn
}

output "scan_policy_json" {
  description = "Read-only scan policy for the member accounts' read role."
  value       = module.iam.scan_policy_json
}

output "results_bucket" {
  description = "Bucket of Prefect flow results: `finops deploy results-block --bucket <this>`."
  value       = module.storage.results_bucket
}
