"""The jobs queue and the worker that runs it."""
