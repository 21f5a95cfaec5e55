"""The orchestration layer: one module per target (chain, vault, cluster, all), each run from a typed request.

Every front end calls these: the CLI handlers (which build a request from their arguments), `serve`, the
pytest-testinfra suite and plan-rotation. Nothing here parses a command line or prints: a run returns its report.
"""
