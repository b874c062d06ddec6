"""wsgen: generate production-grade WebSocket endpoints into FastAPI projects."""

__version__ = "0.1.0"
