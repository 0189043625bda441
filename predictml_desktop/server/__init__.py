"""The local prediction service (FastAPI), serving every active deployment."""
