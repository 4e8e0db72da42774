output "execution_role_arn" {
  description = "Task execution role (image pull, logs, secrets)."
  value       = aws_iam_role.execution.arn
}

output "flow_task_role_arn" {
  description = "Role of the flow tasks: scan (read-only), pipeline, remediation (tag-conditioned)."
  value       = aws_iam_role.flow.arn
}

output "worker_task_role_arn" {
  description = "Role of the Prefect ECS worker service."
  value       = aws_iam_role.worker.arn
}

output "listener_task_role_arn" {
  description = "Role of the finops listen service."
  value       = aws_iam_role.listener.arn
}

output "scan_policy_json" {
  description = "The read-only scan policy, to grant the member_role_name role in member accounts too."
  value       = data.aws_iam_policy_document.scan.json
}

output "remediation_policy_json" {
  description = "The tag-conditioned remediation policy, for a separate remediation role in member accounts."
  value       = data.aws_iam_policy_document.remediation.json
}
