"""plan-rotation's domain: what is due (`due`: the intermediates' and the root's expiry, read from the live Vault)
and where a root rotation stands (`root`, with `root_offline` for a root kept outside Vault), with its refusals.

The command handlers that print and write the rendered scripts are in verify/cli/rotation_command.py.
"""
