"""plan-rotation's domain: what is due (`due`: the intermediates' and the root's expiry, read from the live Vault)
and where a root rotation stands (`root`, with `root_offline` for a root kept outside Vault), with its refusals,
and the files of each phase (`phases`).

The runs that print the plan and write the rendered scripts are verify/runs/rotation.py's; the command line's
handlers (verify/cli/rotation_command.py) only turn the arguments into their requests.
"""
