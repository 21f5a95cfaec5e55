"""The Vault calls a rendered tree's scripts make, read from the scripts as bash would run them.

Each `vault write` / `vault read` (directly or through the scripts' `quietly` helper) becomes a `Call`: the path
with the script's own variables substituted, the key=value pairs it sends (bash arrays such as `config_args`
expanded) and, for `-field=X`, the response field it reads. The CLI's other subcommands become the API calls the
Vault CLI makes for them (`CLI_CALLS`).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

# Which backend serves a path, by the mount variable it starts with (the scripts name every mount once).
BACKENDS = (
    (re.compile(r"^\$(ROOT_MOUNT|INT_MOUNT)/"), "pki"),
    (re.compile(r"^auth/\$AUTH_MOUNT/"), "kubernetes"),
    (re.compile(r"^\$KV_MOUNT/"), "kv"),
    (re.compile(r"^sys/"), "system"),
)
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=(?:'([^']*)'|\"([^\"$]*)\"|([^\s'\"$]+))\s*$")
ARRAY = re.compile(r"^\s*([a-z_]+)\+?=\((.*)\)\s*$")
CALL = re.compile(r"(?:\bquietly|\"\$VAULT_CLI\")\s+(write|read)\s+(.*)$")
FUNCTION_FIELD = re.compile(r"^([a-z_]+)\(\) \{.*-field=\"\$(\d)\"")
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*|\d)\}?")
STOP = {">", ">>", "<", "|", "||", "&&", ";", ")", "(", "&", "2>", "2>&1"}


@dataclass
class Call:
    """One API call a script makes: `operation` is Vault's (UpdateOperation for write, ReadOperation for read)."""

    script: str
    line: int
    operation: str
    backend: str
    raw_path: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    reads: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.script}:{self.line}"


def _unquote(value: str) -> str:
    return value.strip("'\"")


def variables(text: str) -> dict[str, str]:
    """The script's constant assignments (`INT_KEY_BITS='4096'`); a value built from other variables is left out."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = ASSIGNMENT.match(line)
        if match:
            found[match.group(1)] = next(g for g in match.groups()[1:] if g is not None)
    return found


def arrays(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = ARRAY.match(line)
        if match:
            found.setdefault(match.group(1), []).extend(shlex.split(match.group(2)))
    return found


def substitute(value: str, names: dict[str, str]) -> str:
    """$NAME / ${NAME} replaced by the script's value; positional and runtime values become `x1` (a sample name
    matching Vault's name patterns), so the path still routes as a real one would."""

    def one(match: re.Match[str]) -> str:
        return names.get(match.group(1), "x1")

    return VARIABLE.sub(one, value)


def _tokens(rest: str) -> list[str]:
    lexer = shlex.shlex(rest, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words: list[str] = []
    for token in lexer:
        if token in STOP or token.startswith((">", "|", "&", ";", ")")):
            break
        words.append(token)
    if words and words[-1].isdigit():  # the `2` of `2>file`
        words.pop()
    return words


def _backend(raw_path: str) -> str:
    for pattern, backend in BACKENDS:
        if pattern.match(raw_path):
            return backend
    return "unknown"


def _strip_mount(raw_path: str, path: str, backend: str) -> str:
    """The path inside its backend (what framework.Path patterns match): without `sys/`, `auth/<mount>/`, or
    the mount."""
    if backend == "system":
        return path.removeprefix("sys/")
    depth = 2 if raw_path.startswith("auth/") else 1
    return "/".join(path.split("/")[depth:])


LIB = "lib.sh"


def _sourced_with(script: Path) -> str:
    """The text a script runs with besides its own: a step sources its directory's lib.sh (the helpers), and
    lib.sh runs inside each step beside it (their values, and their calls of its helpers)."""
    if script.name == LIB:
        return "\n".join(p.read_text(encoding="utf-8") for p in sorted(script.parent.glob("*.sh")) if p != script)
    lib = script.parent / LIB
    return lib.read_text(encoding="utf-8") if lib.is_file() else ""


def calls_in(script: Path, name: str) -> list[Call]:
    """Every write/read call of one script, continuation lines joined; the values and helper calls of the
    scripts it runs with (`_sourced_with`) count as its own."""
    text = script.read_text(encoding="utf-8")
    context = re.sub(r"\\\n\s*", " ", _sourced_with(script))
    names = {**variables(context), **variables(text)}
    lists = arrays(text)
    joined = re.sub(r"\\\n\s*", " ", text)
    field_args = _function_fields(joined, context)
    dead = _unused_function_lines(joined, context)
    found: list[Call] = []
    for number, line in enumerate(joined.splitlines(), 1):
        match = CALL.search(line)
        if not match or number in dead:
            continue
        verb, rest = match.groups()
        words = _tokens(rest)
        flags = [w for w in words if w.startswith("-")]
        positional = [w for w in words if not w.startswith("-")]
        if not positional:
            continue
        raw_path, args = positional[0], positional[1:]
        expanded: list[str] = []
        for arg in args:
            array = re.fullmatch(r"\$\{([a-z_]+)\[@\]\}", arg)
            expanded.extend(lists.get(array.group(1), []) if array else [arg])
        params = dict(item.split("=", 1) for item in expanded if "=" in item)
        reads = [_unquote(f.split("=", 1)[1]) for f in flags if f.startswith("-field=")]
        function = next((m.group(1) for m in [FUNCTION_FIELD.match(line.strip())] if m), None)
        if reads == ["$2"] and function:
            reads = field_args.get(function, [])
        backend = _backend(raw_path)
        path = substitute(raw_path, names)
        found.append(
            Call(
                script=name,
                line=number,
                operation="UpdateOperation" if verb == "write" else "ReadOperation",
                backend=backend,
                raw_path=raw_path,
                path=_strip_mount(raw_path, path, backend),
                params={key: substitute(value, names) for key, value in params.items()},
                reads=tuple(reads),
            )
        )
    return found


def _unused_function_lines(text: str, context: str = "") -> set[int]:
    """Lines of shell functions the script defines but neither it nor the scripts it runs with call (a shared
    helper no step of the directory uses): their calls are never made."""
    lines = text.splitlines()
    dead: set[int] = set()
    for index, line in enumerate(lines):
        match = re.match(r"^([a-z_]+)\(\) \{", line)
        if not match:
            continue
        end = index
        if not line.rstrip().endswith("}"):
            end = next((j for j in range(index + 1, len(lines)) if lines[j] == "}"), len(lines) - 1)
        body = set(range(index, end + 1))
        name = match.group(1)
        uses = [
            j
            for j, other in enumerate(lines)
            if j not in body and not other.lstrip().startswith("#") and re.search(rf"\b{name}\b", other)
        ]
        used_beside = any(
            not other.lstrip().startswith("#") and re.search(rf"\b{name}\b", other) for other in context.splitlines()
        )
        if not uses and not used_beside:
            dead |= {j + 1 for j in body}
    return dead


def _function_fields(text: str, context: str = "") -> dict[str, list[str]]:
    """For a helper like `issuer_field() { vault read -field="$2" ...; }`: the field names its callers pass (in
    this script or the scripts it runs with)."""
    out: dict[str, list[str]] = {}
    callers = f"{text}\n{context}"
    for line in text.splitlines():
        match = FUNCTION_FIELD.match(line.strip())
        if not match:
            continue
        name, position = match.group(1), int(match.group(2))
        for call in re.finditer(rf"\b{name}[ \t]+([^)|;\n]*)", callers):
            words = shlex.split(call.group(1))
            if len(words) >= position and not words[position - 1].startswith("$"):
                out.setdefault(name, []).append(words[position - 1])
    return {name: sorted(set(values)) for name, values in out.items()}


# The CLI's other subcommands, as the API calls the Vault CLI makes for them (command/<name>.go `Run` in Vault's
# module builds the request through api/sys_mounts.go `Sys.MountWithContext` (type, config, options),
# `Sys.TuneMountWithContext` (max_lease_ttl), api/sys_auth.go `Sys.EnableAuthWithOptionsWithContext` (type),
# api/sys_audit.go `Sys.EnableAuditWithOptionsWithContext` (type, options), api/sys_policy.go
# `Sys.PutPolicyWithContext` (policy on sys/policies/acl/NAME) and command/kv_put.go (data, options.cas on a
# KV v2 mount's data/ path, the pairs themselves on a KV v1 mount).
CLI_CALLS: tuple[tuple[re.Pattern[str], str, str, tuple[str, ...]], ...] = (
    (re.compile(r"\bquietly secrets enable -path=\S+"), "system", "mounts/x1", ("type", "options", "config")),
    (re.compile(r"\bquietly secrets tune -max-lease-ttl="), "system", "mounts/x1/tune", ("max_lease_ttl",)),
    (re.compile(r"\bquietly auth enable -path=\S+ kubernetes"), "system", "auth/x1", ("type",)),
    (re.compile(r"\"\$VAULT_CLI\" audit enable -path=\S+ file file_path="), "system", "audit/x1", ("type", "options")),
    (re.compile(r"\bquietly policy write "), "system", "policies/acl/x1", ("policy",)),
    (re.compile(r"\bquietly kv put -mount=\S+ -cas=0 "), "kv", "data/x1", ("data", "options")),
)


def cli_calls_in(script: Path, name: str) -> list[Call]:
    """The API calls behind the scripts' `secrets enable`, `secrets tune`, `auth enable`, `audit enable`,
    `policy write` and (KV v2) `kv put -cas=0`."""
    found: list[Call] = []
    for number, line in enumerate(script.read_text(encoding="utf-8").splitlines(), 1):
        for pattern, backend, path, params in CLI_CALLS:
            if pattern.search(line):
                sent = dict.fromkeys(params, "{cli}")
                found.append(Call(name, number, "UpdateOperation", backend, path, path, sent))
    return found


def trees(root: Path) -> list[Path]:
    """Every rendered tree's scripts: out/ and each tests/golden/<tree> (multi-cluster trees included)."""
    return sorted(root.glob("out/**/*.sh")) + sorted(root.glob("tests/golden/**/*.sh"))
