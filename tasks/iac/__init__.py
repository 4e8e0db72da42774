"""Infrastructure as code: who owns a resource (Terraform state, CloudFormation tags), and the
code path that turns an approved change into a pull request instead of an API call."""
