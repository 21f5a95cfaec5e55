"""The one Jinja environment every text artifact (bash, HCL, Markdown) is rendered with."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.durations import parse_duration

if TYPE_CHECKING:
    import jinja2

    from ..config.model import Config
    from ..config.plan import ClusterPlan

# Set to any non-empty value to never read or write the compiled-template cache.
NO_CACHE_ENV = "ISTIO_VAULT_CA_NO_CACHE"


def templates_dir() -> Path:
    """Templates ship inside the wheel as generator/_templates; a source checkout uses ./templates."""
    packaged = Path(__file__).parent.parent / "_templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "templates"


def sh_quote(value: object) -> str:
    """One single-quoted shell word whatever the value holds: nothing in it is expanded or split.

    Always quoted (unlike shlex.quote) so a value such as `file` never reads as a command to shellcheck or
    to a reviewer.
    """
    return "'" + str(value).replace("'", "'\"'\"'") + "'"


def hcl_quote(value: object) -> str:
    """A double-quoted HCL string holding `value` verbatim, for policy.hcl.

    A value holding `${` or `%{` is refused, not escaped: Vault and OpenBao parse policies with HCL 1
    (hashicorp/hcl v1, `hcl/scanner/scanner.go` `scanString` counts the braces a `${` opens and ends the string
    only when they close; it knows no `$${` or `%%{` escape), while HCL 2 readers take `${` and `%{` as template
    sequences, so no spelling means the same literal text to both. The config's name and path rules
    (generator/config/model.py `VAULT_NAME`, `PATH_SEGMENTS`) keep `$`, `%` and braces out of every value that
    reaches a policy, so this refusal is a guard for a new caller, never a user's error."""
    text = str(value)
    if "${" in text or "%{" in text:
        raise ValueError(f"{text!r} holds an HCL template sequence ('${{' or '%{{'): no policy string can hold it")
    return json.dumps(text, ensure_ascii=False)


# Everything that changes the code Jinja compiles a template to; part of the cache key.
_OPTIONS: dict[str, Any] = {
    "keep_trailing_newline": True,
    "trim_blocks": True,
    "lstrip_blocks": True,
    "autoescape": False,  # output is bash/HCL/Markdown; quoting filters do the escaping
    # bash uses `{#` (`${#array[@]}`), so comments get delimiters bash never writes.
    "comment_start_string": "{##",
    "comment_end_string": "##}",
}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return build_environment(templates_dir(), bytecode_cache_dir())


def build_environment(directory: Path, cache_dir: Path | None) -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(  # noqa: S701 - bash/HCL/Markdown: the quoting filters escape
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        bytecode_cache=_bytecode_cache(str(cache_dir)) if cache_dir is not None else None,
        **_OPTIONS,
    )
    env.filters["sh_quote"] = sh_quote
    env.filters["hcl_quote"] = hcl_quote
    env.filters["seconds"] = parse_duration
    env.filters["step_script"] = _step_script
    env.filters["root_step"] = _root_step
    return env


def _step_script(cluster: ClusterPlan, script: str) -> str:
    """`{{ p | step_script("03-kv.sh") }}`: where that step of the cluster is in the tree (layout.py), so a
    script's message names the file a person runs: `vault/03-kv.sh`, or `clusters/<name>/vault/03-kv.sh`."""
    from .layout import step_script

    return step_script(cluster, script)


def _root_step(config: Config, script: str) -> str:
    """`{{ cfg | root_step("02-root-pki.sh") }}`: a root step as a cluster's script names it: `vault/NN.sh` in a
    flat tree, in a fleet `root/vault/setup.sh`, which runs the shared steps."""
    from .layout import ROOT_PREFIX, SETUP_SCRIPT

    return f"{ROOT_PREFIX}{SETUP_SCRIPT} (its step {script})" if len(config.clusters) > 1 else f"vault/{script}"


def bytecode_cache_dir(env: Mapping[str, str] = os.environ) -> Path | None:
    """Where compiled templates are kept between runs: $XDG_CACHE_HOME (default ~/.cache)/istio-vault-ca/.

    Compiling the templates is most of a render's own work, so each run reuses the code of the last one. An
    entry is used only when the template's source is unchanged (Jinja compares a checksum of it), and the
    directory name covers the Jinja and Python versions and the environment's options. The cache is private
    (0700, ours); None (compile in memory, as without a cache) when it is turned off or cannot be made safe.
    """
    if env.get(NO_CACHE_ENV):
        return None
    base = env.get("XDG_CACHE_HOME", "")
    try:
        root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    except RuntimeError:  # no home directory
        return None
    import jinja2

    key = json.dumps([jinja2.__version__, sys.version, _OPTIONS], sort_keys=True)
    directory = root / "istio-vault-ca" / f"templates-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    try:
        if not sys.dont_write_bytecode:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.lstat()
    except OSError:
        return None
    private = stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077
    return directory if private else None


def _bytecode_cache(directory: str) -> jinja2.BytecodeCache:
    import jinja2

    class Cache(jinja2.FileSystemBytecodeCache):
        """Jinja's file cache, except that a damaged entry is compiled again and a cache it cannot write never
        fails a render."""

        def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:  # truncated or unreadable: recompile (and rewrite) it
                bucket.reset()

        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            if sys.dont_write_bytecode:
                return
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    return Cache(directory, "%s.jinja")


def render_template(name: str, **context: object) -> str:
    return environment().get_template(name).render(**context)
