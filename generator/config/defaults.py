"""Defaults that the config model and the verifier's command line share, each defined once.

No imports: the command line's start-up (`--help`, the plain `verify chain`) reads it.
"""

from __future__ import annotations

# A CA certificate this many days from its end is a warning: `verify --warn-days` and the pytest-testinfra suite's
# `--ivc-warn-days`, `plan-rotation --warn-days` (it is due), the rehearsal's chain checks, and the rendered alert
# IstioVaultCaCertificateExpiring (monitoring.alerts.expiry_warning_days).
WARN_DAYS = 30
