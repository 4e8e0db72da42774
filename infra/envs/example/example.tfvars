# Example variables: replace every value with your account's (none of these exist).
region            = "us-east-1"
name_prefix       = "finops"
vpc_id            = "vpc-0123456789abcdef0"
subnet_ids        = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
image             = "123456789012.dkr.ecr.us-east-1.amazonaws.com/finops-flows:0.1.0"
prefect_api_url   = "https://api.prefect.cloud/api/accounts/<account-id>/workspaces/<workspace-id>"
access_log_bucket = "example-org-s3-access-logs"

# Optional (defaults shown where they exist).
export_bucket_arn      = "arn:aws:s3:::example-org-cur-export"
daily_budget_usd       = 1000
anomaly_min_impact_usd = 100
member_role_name       = "OrganizationAccountAccessRole"
slack_channel          = "#finops"
jira_url               = "https://example.atlassian.net"
jira_email             = "finops-bot@example.com"
audit_lock_mode        = "GOVERNANCE" # COMPLIANCE in production: records cannot be deleted early
tags                   = { project = "finops-flows", owner = "platform" }
