"""tasks/anomalies."""
