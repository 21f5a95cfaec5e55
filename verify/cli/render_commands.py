"""Handlers of the generator commands: parse nothing, call the pipeline, map outcomes to exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from istio_vault_ca.generator.config.loader import DEFAULT_CONFIG_NAME, NO_SUCH_FILE, STARTER, LoadedConfig, load
from istio_vault_ca.generator.errors import ConfigError, Problem

if TYPE_CHECKING:
    from istio_vault_ca.generator.render.tree import Tree

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def load_or_report(config: str | None) -> LoadedConfig | None:
    """The config, or None after printing every problem (callers exit 2)."""
    try:
        return load(config)
    except ConfigError as error:
        if error.problems == [Problem("", None, NO_SUCH_FILE)]:
            print(
                f"error: no such config file: {error.source} (write one with `istio-vault-ca init "
                f"{error.source}`, or leave out -c to use ./{DEFAULT_CONFIG_NAME} or the built-in default)",
                file=sys.stderr,
            )
        else:
            print(str(error), file=sys.stderr)
        return None


# `render --check` shows at most this many lines of diff per differing file, unless --diff asks for all.
SHORT_DIFF_LINES = 12


def render(args: argparse.Namespace) -> int:
    from istio_vault_ca.generator.errors import UnsafeOutputDir
    from istio_vault_ca.generator.render.tree import render_tree
    from istio_vault_ca.generator.render.writer import differences, refusal, write_tree

    loaded = load_or_report(args.config)
    if loaded is None:
        return EXIT_USAGE
    tree = render_tree(loaded.config)
    out = Path(args.out)
    if args.check:
        return _check(args, loaded, tree, out)
    # What a render replaces: files it no longer renders and files whose content it overwrites (hand edits or an
    # older render); measured before writing, reported after.
    replaced = differences(tree, out) if refusal(out) is None else []
    try:
        write_tree(tree, out)
    except UnsafeOutputDir as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"error: cannot write {out}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"rendered {len(tree)} files from {loaded.source} into {out}")
    removed = [d.path for d in replaced if d.kind == "not rendered any more"]
    overwritten = [d.path for d in replaced if d.kind == "differs"]
    if removed:
        print(f"removed {len(removed)} file(s) this config does not render:", file=sys.stderr)
        for path in removed:
            print(f"  {path}", file=sys.stderr)
    if overwritten:
        print(
            f"overwrote {len(overwritten)} file(s) that differed from this render (hand edits or an older config):",
            file=sys.stderr,
        )
        for path in overwritten:
            print(f"  {path}", file=sys.stderr)
    return EXIT_OK


def _check(args: argparse.Namespace, loaded: LoadedConfig, tree: Tree, out: Path) -> int:
    from istio_vault_ca.generator.render.writer import differences, refusal, unified_diff

    reason = refusal(out)
    if reason is not None:
        print(f"error: {out} cannot be checked against {loaded.source}: {reason}", file=sys.stderr)
        print(
            "  render --check compares a directory `istio-vault-ca render` wrote; render into a new or empty "
            "directory, commit it, then check that one",
            file=sys.stderr,
        )
        return EXIT_USAGE
    stale = differences(tree, out)
    if not stale:
        print(f"{out} is up to date with {loaded.source} ({len(tree)} files)")
        return EXIT_OK
    print(f"{out} is stale against {loaded.source}:", file=sys.stderr)
    for entry in stale:
        print(f"  {entry}", file=sys.stderr)
    full = bool(getattr(args, "diff", False))
    cut = False
    for entry in stale:
        if entry.kind != "differs":
            continue
        lines = unified_diff(tree, out, entry.path)
        shown = lines if full else lines[:SHORT_DIFF_LINES]
        cut = cut or len(shown) < len(lines)
        for line in shown:
            print(line, file=sys.stderr)
        if len(shown) < len(lines):
            print(f"... {len(lines) - len(shown)} more diff line(s) of {entry.path}", file=sys.stderr)
    if cut:
        print("(diffs cut short; --diff shows them whole)", file=sys.stderr)
    config_flag = f" -c {args.config}" if args.config else ""
    print(f"refresh it with: istio-vault-ca render{config_flag} -o {out}", file=sys.stderr)
    return EXIT_FAILED


def validate(args: argparse.Namespace) -> int:
    from istio_vault_ca.generator.config.plan import plan

    loaded = load_or_report(args.config)
    if loaded is None:
        return EXIT_USAGE
    print(f"{loaded.source}: valid")
    for cluster_plan in plan(loaded.config):
        cluster = cluster_plan.cluster
        print(
            f"  cluster {cluster.name}: intermediate {cluster.intermediate_mount}/ "
            f"({cluster_plan.intermediate.common_name}, {cluster_plan.intermediate.ttl}), "
            f"key at {cluster_plan.kv_secret_path}, role {cluster.auth_mount}/{cluster.role}, "
            f"policy {cluster.policy}, outputs {', '.join(cluster_plan.outputs)}"
        )
    return EXIT_OK


def schema(args: argparse.Namespace) -> int:
    from istio_vault_ca.generator.config.model import Config

    document = Config.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    print(json.dumps(document, indent=2, sort_keys=True))
    return EXIT_OK


def init(args: argparse.Namespace) -> int:
    target = Path(args.path)
    if target.exists() and not args.force:
        print(f"error: {target} already exists; use --force to overwrite it", file=sys.stderr)
        return EXIT_USAGE
    try:
        target.write_text(STARTER.read_text(encoding="utf-8"), encoding="utf-8")
    except OSError as error:
        print(f"error: cannot write {target}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {target}; edit it, then run: istio-vault-ca render -c {target}")
    return EXIT_OK
