"""The auditor HTTP API (FastAPI)."""
