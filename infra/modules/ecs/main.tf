# The ECS Fargate cluster (Container Insights on), the flow log group, the channel secrets, and
# two long-running services: the Prefect ECS worker (starts one Fargate task per flow run) and
# the event listener (`finops listen`).

resource "aws_ecs_cluster" "this" {
  name = var.name_prefix
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
  tags = var.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]
  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_cloudwatch_log_group" "flows" {
  name              = "/${var.name_prefix}/flows"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_cloudwatch_log_group" "services" {
  name              = "/${var.name_prefix}/services"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# Values are set out of band (console, CLI or a secrets pipeline), never in Terraform state.
resource "aws_secretsmanager_secret" "channel" {
  #checkov:skip=CKV2_AWS_57:Slack and Jira tokens are issued by those services; AWS cannot rotate them (rotate at the source, then put the new value).
  for_each    = var.secret_names
  name        = "${var.name_prefix}/${each.key}"
  description = each.value
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}

resource "aws_security_group" "tasks" {
  name        = "${var.name_prefix}-tasks"
  description = "FinOps flow, worker and listener tasks: no inbound, HTTPS out."
  vpc_id      = var.vpc_id
  egress {
    description = "AWS APIs, Prefect API, Slack and Jira over HTTPS"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  tags = var.tags
}

locals {
  secret_env = { for key, env in var.secret_env : env => aws_secretsmanager_secret.channel[key].arn }
  common_environment = merge(var.environment, {
    PREFECT_API_URL = var.prefect_api_url
  })
  services = {
    worker = {
      role    = var.worker_task_role_arn
      command = ["prefect", "worker", "start", "--pool", var.work_pool_name, "--type", "ecs"]
      cpu     = 512
      memory  = 1024
    }
    listener = {
      role    = var.listener_task_role_arn
      command = ["finops", "listen"]
      cpu     = 256
      memory  = 512
    }
  }
}

resource "aws_ecs_task_definition" "service" {
  for_each                 = local.services
  family                   = "${var.name_prefix}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = each.value.role
  container_definitions = jsonencode([{
    name                   = each.key
    image                  = var.image
    command                = each.value.command
    essential              = true
    readonlyRootFilesystem = false
    environment            = [for name, value in local.common_environment : { name = name, value = value }]
    secrets                = [for name, arn in local.secret_env : { name = name, valueFrom = arn }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.services.name
        awslogs-region        = var.region
        awslogs-stream-prefix = each.key
      }
    }
  }])
  tags = var.tags
}

resource "aws_ecs_service" "service" {
  for_each        = local.services
  name            = "${var.name_prefix}-${each.key}"
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.service[each.key].arn
  desired_count   = 1
  launch_type     = "FARGATE"
  # One worker and one listener are enough: both only wait on APIs.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }
  tags = var.tags
}
