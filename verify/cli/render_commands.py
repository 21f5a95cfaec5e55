"""Handlers of the generator commands: parse nothing, call the pipeline, map outcomes to exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the loader imports pydantic: only when a command runs, so `--help` stays fast
    from istio_vault_ca.generator.config.loader import LoadedConfig

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def load_or_report(config: str | None) -> LoadedConfig | None:
    """The config, or None after printing every problem (callers exit 2)."""
    from istio_vault_ca.generator.config.loader import load
    from istio_vault_ca.generator.errors import ConfigError

    try:
        return load(config)
    except ConfigError as error:
        print(str(error), file=sys.stderr)
        return None


def render(args: argparse.Namespace) -> int:
    from istio_vault_ca.generator.errors import UnsafeOutputDir
    from istio_vault_ca.generator.render.tree import render_tree
    from istio_vault_ca.generator.render.writer import stale_files, write_tree

    loaded = load_or_report(args.config)
    if loaded is None:
        return EXIT_USAGE
    tree = render_tree(loaded.config)
    out = Path(args.out)
    if args.check:
        stale = stale_files(tree, out)
        if stale:
            print(f"{out} is stale against {loaded.source}:", file=sys.stderr)
            for entry in stale:
                print(f"  {entry}", file=sys.stderr)
            config_flag = f" -c {args.config}" if args.config else ""
            print(f"refresh it with: istio-vault-ca render{config_flag} -o {out}", file=sys.stderr)
            return EXIT_FAILED
        print(f"{out} is up to date with {loaded.source} ({len(tree)} files)")
        return EXIT_OK
    try:
        write_tree(tree, out)
    except UnsafeOutputDir as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"error: cannot write {out}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"rendered {len(tree)} files from {loaded.source} into {out}")
    return EXIT_OK


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
        from istio_vault_ca.generator.config.loader import STARTER

        target.write_text(STARTER.read_text(encoding="utf-8"), encoding="utf-8")
    except OSError as error:
        print(f"error: cannot write {target}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {target}; edit it, then run: istio-vault-ca render -c {target}")
    return EXIT_OK
