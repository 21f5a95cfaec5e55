"""`plan-rotation`: the CAs due for renewal (verify/rotation/due.py surveys the live Vault) and their rotation
scripts rendered into OUT; with `--root`, where a root rotation stands (verify/rotation/root.py reads it from Vault),
the next phase's files rendered into OUT, and the refusal of a phase whose precondition is not verified (exit 1,
the reason on stderr). The runs are verify/runs/rotation.py's; this module turns the arguments into their
requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...generator.errors import UsageError

if TYPE_CHECKING:
    import argparse


def plan_rotation(args: argparse.Namespace) -> int:
    """`plan-rotation`: the root rotation's phases with --root, else the plan of the intermediates due."""
    return root_command(args) if getattr(args, "root", False) else plan_command(args)


def root_command(args: argparse.Namespace) -> int:
    """plan-rotation --root -c CONFIG [--phase a|b|c|d] [--confirm-bundle DIR | --confirm-bundle-from-cluster NS]
    [--workload-cert-ttl DURATION] [--skip-ttl-wait] [--new-root-file NEW.pem] [-o OUT]"""
    from ..runs.rotation import RootRequest, root_rotation

    if getattr(args, "output", "text") != "text":
        raise UsageError("--output html reports the intermediates' plan; plan-rotation --root reports as text")
    return root_rotation(
        RootRequest(
            config=args.config,
            out=args.out,
            workload_cert_ttl=args.workload_cert_ttl,
            phase=args.phase,
            confirm_bundle=args.confirm_bundle,
            confirm_bundle_from_cluster=args.confirm_bundle_from_cluster,
            kubeconfig=args.kubeconfig,
            context=args.context,
            skip_ttl_wait=args.skip_ttl_wait,
            new_root_file=getattr(args, "new_root_file", None),
        )
    )


def plan_command(args: argparse.Namespace) -> int:
    """plan-rotation -c CONFIG [--cluster NAME] [-o OUT] [--warn-days N] [--force CLUSTER]..."""
    from ..runs.rotation import IntermediatesRequest, intermediates_rotation

    return intermediates_rotation(
        IntermediatesRequest(
            config=args.config,
            cluster=args.cluster,
            out=args.out,
            warn_days=args.warn_days,
            force=frozenset(getattr(args, "force", None) or ()),
            html=getattr(args, "output", "text") == "html",
        )
    )
