output "cluster_name" {
  description = "ECS cluster name (the work pool's `cluster`)."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ECS cluster ARN."
  value       = aws_ecs_cluster.this.arn
}

output "flow_log_group_name" {
  description = "Log group of the flow tasks (the work pool's awslogs-group)."
  value       = aws_cloudwatch_log_group.flows.name
}

output "flow_log_group_arn" {
  description = "ARN of the flow log group."
  value       = aws_cloudwatch_log_group.flows.arn
}

output "security_group_id" {
  description = "Security group of the tasks (the work pool's network configuration)."
  value       = aws_security_group.tasks.id
}

output "secret_arns" {
  description = "Secrets Manager ARNs by key."
  value       = { for key, secret in aws_secretsmanager_secret.channel : key => secret.arn }
}

output "secrets_by_env" {
  description = "Environment variable => secret ARN, for the flow containers."
  value       = local.secret_env
}
