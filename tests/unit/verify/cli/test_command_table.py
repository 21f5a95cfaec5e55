"""The command table (verify/cli/commands.py) names each handler as `module:function`, imported only when its
command runs: a misspelt name would surface only then, so every one is resolved here."""

from __future__ import annotations

import importlib
import subprocess
import sys

from istio_vault_ca.verify.cli.commands import COMMAND_TABLE, TARGET_TABLE, Handler


def test_every_handler_names_a_function_of_the_cli_package() -> None:
    handlers = [c.handler for c in (*COMMAND_TABLE, *TARGET_TABLE) if c.handler is not None]
    assert len(handlers) == len(COMMAND_TABLE) + len(TARGET_TABLE) - 1  # `verify` has targets, no handler
    for handler in handlers:
        assert isinstance(handler, Handler)
        module, function = handler.target.split(":")
        assert callable(getattr(importlib.import_module(f"istio_vault_ca.verify.cli.{module}"), function)), handler


def test_help_imports_no_handler_module() -> None:
    """The lazy boundary: printing the whole parser's help imports the table, never a handler module."""
    modules = sorted({c.handler.target.split(":")[0] for c in (*COMMAND_TABLE, *TARGET_TABLE) if c.handler})
    code = (
        "import contextlib, io, sys\n"
        "from istio_vault_ca.verify.cli.parser import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        f"print(sorted(m for m in {modules!r} if 'istio_vault_ca.verify.cli.' + m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
