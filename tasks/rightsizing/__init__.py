"""Rightsizing: AWS's own optimisers org-wide, our own EC2 rule, one finding per instance."""
