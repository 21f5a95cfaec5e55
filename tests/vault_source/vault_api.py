"""HashiCorp Vault's HTTP API as its own source declares it, read by tests/oracles/vault_api (go/parser, no build).

The modules are the ones tests/oracles/vault_api/go.mod pins: Vault 1.21.4, the Kubernetes auth and KV plugins at
the versions Vault 1.21.4's go.mod requires, and the sdk that go.mod names. ``load`` builds the extractor, finds
each module in the module cache (``go mod download -json``) and returns every ``framework.Path`` by backend.

OpenBao's module (github.com/openbao/openbao) is not served by the module proxy (``go mod download -json
github.com/openbao/openbao@v2.7.2+incompatible`` answers ``403 Forbidden: This module version is not available``,
as does every version and ``@latest``), so the same extraction over OpenBao cannot run here; see
docs/vault-and-openbao.md.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

from tests.gobuild import build, module_dir

PROGRAM = "vault_api"
VAULT = "github.com/hashicorp/vault"
SDK = "github.com/hashicorp/vault/sdk"
KUBERNETES = "github.com/hashicorp/vault-plugin-auth-kubernetes"
KV = "github.com/hashicorp/vault-plugin-secrets-kv"

# Backend name -> the packages whose paths it serves (import path, module, directory inside the module).
PACKAGES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "pki": ((f"{VAULT}/builtin/logical/pki", VAULT, "builtin/logical/pki"),),
    "system": ((f"{VAULT}/vault", VAULT, "vault"),),
    "kubernetes": ((KUBERNETES, KUBERNETES, "."),),
    "kv": ((KV, KV, "."),),
}
# The KV plugin serves both versions: KV v2's paths are declared in path_*.go, KV v1's single passthrough path in
# passthrough.go (backend.go's catch-all `pathInvalid` answers an unknown path on a v2 mount).
KV_V1_FILES = ("passthrough.go",)
# Helpers the backends call (framework.GenericNameRegex in patterns, tokenutil.AddTokenFields in fields).
SUPPORT = (
    (f"{VAULT}/builtin/logical/pki/issuing", VAULT, "builtin/logical/pki/issuing"),  # defaultRef = issuing.DefaultRef
    (f"{SDK}/framework", SDK, "framework"),
    (f"{SDK}/helper/tokenutil", SDK, "helper/tokenutil"),
    (f"{SDK}/logical", SDK, "logical"),  # logical.ListResponse writes "keys"
)


@dataclass(frozen=True)
class ApiPath:
    """One framework.Path: where it is declared, its patterns, fields (name -> framework.Type*), operations
    (logical.*Operation -> handler) and the keys its handlers write into a response."""

    backend: str
    package: str
    file: str
    line: int
    func: str
    patterns: tuple[str, ...]
    fields: dict[str, str]
    operations: dict[str, str]
    response_keys: frozenset[str]

    @property
    def where(self) -> str:
        """The citation: package-relative file and the function declaring the path."""
        return f"{self.package.removeprefix('github.com/hashicorp/')}/{self.file} `{self.func}`"

    def matches(self, path: str) -> bool:
        """Vault anchors every pattern (sdk/framework/backend.go `Backend.init` compiles "^" + pattern, adding "$"
        unless the pattern ends with one); Go's `[\\w-.]` is written `[\\w\\-.]` for Python's re."""
        return any(regex.match(path) for regex in _compiled(self.patterns))


@functools.cache
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """The patterns as Python regexes. One Python cannot compile (Go's POSIX classes) is left out: a call that
    needed it then matches no path and fails, never passes."""
    out: list[re.Pattern[str]] = []
    for pattern in patterns:
        anchored = pattern if pattern.endswith("$") else pattern + "$"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            try:
                out.append(re.compile("^" + anchored.replace(r"[\w-.", r"[\w\-.")))
            except re.error:
                continue
    return tuple(out)


@dataclass(frozen=True)
class VaultApi:
    """Every path of the backends in PACKAGES, and where each module came from."""

    paths: dict[str, tuple[ApiPath, ...]]
    modules: dict[str, Path]

    def find(self, backend: str, path: str, operation: str = "UpdateOperation") -> ApiPath | None:
        """The path Vault's router would pick for `path` inside `backend`: the first declared path matching it
        that has the operation (framework.Backend.route tries paths in order; sdk/framework/backend.go)."""
        for candidate in self.paths[backend]:
            if candidate.matches(path) and (operation in candidate.operations or not candidate.operations):
                return candidate
        return None


@functools.cache
def load() -> VaultApi:
    """Build the extractor (cached by tests/gobuild.py), download the pinned modules, extract every path."""
    binary = build(PROGRAM)
    modules = {module: module_dir(PROGRAM, module) for module in (VAULT, SDK, KUBERNETES, KV)}
    wanted = [entry for entries in PACKAGES.values() for entry in entries] + list(SUPPORT)
    args = [f"{import_path}={modules[module] / sub}" for import_path, module, sub in wanted]
    proc = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{PROGRAM} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    raw: dict[str, list[dict[str, object]] | None] = json.loads(proc.stdout)
    by_backend: dict[str, tuple[ApiPath, ...]] = {}
    for backend, entries in PACKAGES.items():
        found: list[ApiPath] = []
        for import_path, _module, _sub in entries:
            for item in raw.get(import_path) or []:
                found.append(_path(backend, item))
        if backend == "system":  # package vault also holds cubbyhole, identity, the token store...
            by_backend["token"] = tuple(p for p in found if p.file == "token_store.go")
            found = [p for p in found if p.file.startswith("logical_system")]
        if backend == "kv":
            by_backend["kv1"] = tuple(p for p in found if p.file in KV_V1_FILES)
            found = [p for p in found if p.file.startswith("path_")]
        by_backend[backend] = tuple(found)
    return VaultApi(by_backend, modules)


def _path(backend: str, item: dict[str, object]) -> ApiPath:
    def strings(key: str) -> list[str]:
        value = item.get(key) or []
        assert isinstance(value, list)
        return [str(v) for v in value]

    def mapping(key: str) -> dict[str, str]:
        value = item.get(key) or {}
        assert isinstance(value, dict)
        return {str(k): str(v) for k, v in value.items()}

    return ApiPath(
        backend=backend,
        package=str(item["package"]),
        file=str(item["file"]),
        line=int(str(item["line"])),
        func=str(item["func"]),
        patterns=tuple(strings("patterns")),
        fields=mapping("fields"),
        operations=mapping("operations"),
        response_keys=frozenset(strings("response_keys")),
    )
