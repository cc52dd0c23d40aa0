"""The support-desk HTTP API (`support-swarm serve`): FastAPI on Uvicorn."""
