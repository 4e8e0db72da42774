"""The library of steps: one package per capability (pure logic, adapters, thin @task wrappers)."""
