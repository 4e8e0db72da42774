"""The event path: SQS messages (EventBridge, SNS) -> typed AWS events -> Prefect events."""
