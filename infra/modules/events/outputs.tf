output "topic_arn" {
  description = "SNS topic for Budgets, Cost Anomaly Detection and the flows' JSON summary (FINOPS_NOTIFY__SNS_TOPIC_ARN)."
  value       = aws_sns_topic.events.arn
}

output "queue_url" {
  description = "Queue the listener long-polls (FINOPS_EVENTS__QUEUE_URL)."
  value       = aws_sqs_queue.events.id
}

output "queue_arn" {
  description = "ARN of the listener queue."
  value       = aws_sqs_queue.events.arn
}

output "dead_letter_queue_url" {
  description = "Dead-letter queue (FINOPS_EVENTS__DEAD_LETTER_QUEUE_URL)."
  value       = aws_sqs_queue.dead_letter.id
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dead_letter.arn
}

output "event_rule_arns" {
  description = "EventBridge rules by name."
  value       = { for name, rule in aws_cloudwatch_event_rule.resource_events : name => rule.arn }
}

output "budget_name" {
  description = "Name of the daily AWS Budget."
  value       = aws_budgets_budget.daily.name
}
