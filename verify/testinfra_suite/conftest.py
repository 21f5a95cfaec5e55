"""Loads the suite's plugin when pytest is pointed at this directory by path (`pytest .../testinfra_suite`)."""

pytest_plugins = ["istio_vault_ca.verify.testinfra_suite.plugin"]
