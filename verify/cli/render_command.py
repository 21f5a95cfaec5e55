"""Handlers of the generator commands (render, validate, schema, init): call the pipeline, print what it did.

Errors are raised (generator/errors.py) and turned into messages and exit codes by the CLI's `main` alone. The
loader imports pydantic, so it is imported when a command runs: `--help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from ...generator.errors import EXIT_FAILED, EXIT_OK, ConfigsRefused, UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from ...generator.config.loader import LoadedConfig
    from ...generator.render.tree import Tree

# `render --check` shows at most this many lines of diff per differing file, unless --diff asks for all.
SHORT_DIFF_LINES = 12


def _load(config: str | None) -> LoadedConfig:
    from ...generator.config.loader import load

    return load(config)


def _described(source: str) -> str:
    """The source as `render` names it: the built-in default says why it was chosen, since a config saved under
    another name than the two looked for would otherwise be silently passed over."""
    from ...generator.config.loader import BUILT_IN, LOCAL_CONFIG_NAMES

    if source != BUILT_IN:
        return source
    return f"the built-in default (no -c, no ./{LOCAL_CONFIG_NAMES[0]} or ./{LOCAL_CONFIG_NAMES[1]} here)"


def render(args: argparse.Namespace) -> int:
    """render [-c CONFIG] [-o OUT] [--check [--diff]] | render [-c CONFIG] --merge-into FILE [--cluster NAME]"""
    from ...generator.render.tree import render_tree
    from ...generator.render.writer import differences, refusal, write_tree

    loaded = _load(args.config)
    if args.merge_into:
        return _merge_into(args, loaded)
    if args.cluster:
        raise UsageError("--cluster goes with --merge-into")
    tree = render_tree(loaded.config)
    from pathlib import Path

    out = Path(args.out)
    if args.check or args.diff:
        # `--diff` alone is a preview: the same comparison and whole diffs as `--check --diff`, and never a write.
        return _check(args, loaded, tree, out, preview=not args.check)
    # What a render replaces: files it no longer renders and files whose content it overwrites (hand edits or an
    # older render); measured before writing, reported after.
    replaced = differences(tree, out) if refusal(out) is None else []
    try:
        write_tree(tree, out)
    except OSError as error:
        raise UsageError(f"cannot write {out}: {error.strerror or error}") from None
    print(f"rendered {len(tree)} files from {_described(loaded.source)} into {out}")
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


def _merge_into(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from ...generator.config.plan import plan
    from ...generator.render.merge_into import merge_into

    if args.check:
        raise UsageError("--merge-into and --check do not go together")
    preview = bool(args.diff)  # `--merge-into FILE --diff`: what the merge would change, FILE left as it is
    plans = plan(loaded.config)
    names = [p.cluster.name for p in plans]
    if args.cluster:
        chosen = [p for p in plans if p.cluster.name == args.cluster]
        if not chosen:
            raise UsageError(f"no cluster {args.cluster!r} in {loaded.source} (clusters: {', '.join(names)})")
    elif len(plans) == 1:
        chosen = list(plans)
    else:
        raise UsageError(f"{loaded.source} has {len(plans)} clusters; name one with --cluster ({', '.join(names)})")
    from pathlib import Path

    target = Path(args.merge_into)
    result = merge_into(chosen[0], target, write=not preview)
    name = chosen[0].cluster.name
    changes = result.changes
    if not changes:
        print(f"{target}: {result.kind} already carries cluster {name}'s {result.what}; unchanged")
    else:
        verb = "would merge" if preview else "merged"
        print(f"{target}: {verb} cluster {name}'s {result.what} into the {result.kind}:")
        for change in changes:
            print(f"  {change}")
    if preview and changes:
        import difflib

        diff = difflib.unified_diff(
            result.before.splitlines(), result.after.splitlines(), str(target), f"{target} (merged)", lineterm=""
        )
        for line in diff:
            print(line)
        print(f"{target}: nothing written (--diff previews; drop it to merge)")
    for warning in result.warnings:
        print(f"{target}: warning: {warning}", file=sys.stderr)
    return EXIT_OK


def _check(args: argparse.Namespace, loaded: LoadedConfig, tree: Tree, out: Path, *, preview: bool = False) -> int:
    """`--check`: exit 1 when OUT is stale. `preview` (`--diff` alone): what a render would change, exit 0."""
    from ...generator.render.writer import differences, refusal, unified_diff

    reason = refusal(out)
    if reason is not None:
        raise UsageError(
            f"{out} cannot be checked against {loaded.source}: {reason}",
            "render --check compares a directory `istio-vault-ca render` wrote; render into a new or empty "
            "directory, commit it, then check that one",
        )
    stale = differences(tree, out)
    if not stale:
        print(f"{out} is up to date with {loaded.source} ({len(tree)} files)")
        return EXIT_OK
    if preview:
        print(f"a render of {loaded.source} would change {out} (nothing written):", file=sys.stderr)
    else:
        print(f"{out} is stale against {loaded.source}:", file=sys.stderr)
    for entry in stale:
        print(f"  {entry}", file=sys.stderr)
    full = bool(args.diff)
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
    print(f"{'write' if preview else 'refresh'} it with: istio-vault-ca render{config_flag} -o {out}", file=sys.stderr)
    return EXIT_OK if preview else EXIT_FAILED


def validate(args: argparse.Namespace) -> int:
    """validate [-c CONFIG] [CONFIG...]: each config's verdict and its clusters as the plan resolves them.

    Several files (pre-commit passes the changed ones) are all checked; every refused one is reported."""
    names: list[str | None] = [*([args.config] if args.config else []), *args.configs] or [None]
    refused: list[UsageError] = []
    for name in names:
        try:
            _validate_one(name)
        except UsageError as error:
            refused.append(error)
    if len(refused) == 1 and len(names) == 1:
        raise refused[0]
    if refused:
        raise ConfigsRefused(refused)
    return EXIT_OK


def _validate_one(config: str | None) -> None:
    from ...generator.config.plan import plan

    loaded = _load(config)
    print(f"{loaded.source}: valid")
    for cluster_plan in plan(loaded.config):
        cluster = cluster_plan.cluster
        print(
            f"  cluster {cluster.name}: intermediate {cluster.intermediate_mount}/ "
            f"({cluster_plan.intermediate.common_name}, {cluster_plan.intermediate.ttl}), "
            f"key at {cluster_plan.kv_secret_path}, role {cluster.auth_mount}/{cluster.role}, "
            f"policy {cluster.policy}, outputs {', '.join(cluster_plan.outputs)}"
        )


def schema(args: argparse.Namespace) -> int:
    """schema: the config's JSON Schema, for editors."""
    from ...generator.config.model import Config

    document = Config.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    print(json.dumps(document, indent=2, sort_keys=True))
    return EXIT_OK


def init(args: argparse.Namespace) -> int:
    """init [PATH] [--force]: the commented starter config."""
    from pathlib import Path

    from ...generator.config.loader import STARTER

    target = Path(args.path)
    if target.exists() and not args.force:
        raise UsageError(f"{target} already exists; use --force to overwrite it")
    from ...generator.config.loader import LOCAL_CONFIG_NAMES

    # The other spelling beside it would make every command without -c refuse to choose between the two.
    if str(target) in LOCAL_CONFIG_NAMES:
        other = next(Path(name) for name in LOCAL_CONFIG_NAMES if name != str(target))
        if other.exists():
            raise UsageError(
                f"./{other} is already here: with ./{target} beside it, every command without -c would refuse to "
                "choose",
                f"edit ./{other}, or write the starter elsewhere (`istio-vault-ca init other.yaml`)",
            )
    try:
        target.write_text(STARTER.read_text(encoding="utf-8"), encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
    print(f"wrote {target}; edit it, then run: istio-vault-ca render -c {target}")
    return EXIT_OK
