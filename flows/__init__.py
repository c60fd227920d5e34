"""Prefect flows: thin orchestration over earlywarn.pipeline (retries, timeouts, artifacts)."""
