"""Every call `verify vault` makes, and every response field it reads, checked against Vault 1.21.4's source.

The verifier runs, as users run it, against a server the rendered setup.sh configured (the OpenBao binary here;
IVC_TEST_SERVER=PATH runs a HashiCorp Vault binary instead). Its API client records each path it reads or
writes, and each key it takes from a response's `data`; each must be a path, field and response key Vault's own
handlers declare. A key OpenBao writes and Vault does not would fail here, where a run on OpenBao alone passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from istio_vault_ca.generator.config.loader import load as load_config
from istio_vault_ca.generator.config.plan import plan
from istio_vault_ca.verify.clients.vault import VaultApi as Client
from tests.vault_setup import EC_CONFIG, configure
from tests.vault_source.vault_api import VaultApi

pytestmark = [pytest.mark.vault_source, pytest.mark.integration]

# Listings whose `data` is keyed by mount path ("pki/"): the keys Vault declares are one level down.
LISTINGS = ("sys/mounts", "sys/auth", "sys/audit")


class Recorder:
    """The (method, path, sent keys) of every call and the (path, keys from `data` down) of every key read."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple[str, ...]]] = []
        self.reads: set[tuple[str, tuple[str, ...]]] = set()

    def wrap(self, path: str, value: Any, above: tuple[str, ...] = ()) -> Any:
        if isinstance(value, dict):
            return Watched(self, path, above, value)
        return value


class Watched(dict[str, Any]):
    """A response dict that notes each key the verifier asks for (get, [], in)."""

    def __init__(self, recorder: Recorder, path: str, above: tuple[str, ...], data: dict[str, Any]) -> None:
        super().__init__({k: recorder.wrap(path, v, (*above, k)) for k, v in data.items()})
        self._recorder, self._path, self._above = recorder, path, above

    def _note(self, key: object) -> None:
        if isinstance(key, str):
            self._recorder.reads.add((self._path, (*self._above, key)))

    def get(self, key: str, default: Any = None) -> Any:
        self._note(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._note(key)
        return super().__contains__(key)


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Recorder, dict[str, str]]]:
    """verify vault's checks run once on a configured server, every call recorded; and the mount -> backend map."""
    configured = configure(tmp_path, EC_CONFIG + "kv: {version: 2}\n")
    recorder = Recorder()
    read, write = Client.read, Client.write

    def recording_read(self: Client, path: str) -> dict[str, Any] | None:
        recorder.calls.append(("GET", path, ()))
        answer = read(self, path)
        if answer is None:
            return None
        return {**answer, "data": recorder.wrap(path, answer.get("data"))}

    def recording_write(self: Client, path: str, data: Any) -> dict[str, Any] | None:
        recorder.calls.append(("POST", path, tuple(sorted(data))))
        return write(self, path, data)

    monkeypatch.setattr(Client, "read", recording_read)
    monkeypatch.setattr(Client, "write", recording_write)
    try:
        results = configured.check()
        assert results, "verify vault ran no check"
        config = load_config(str(configured.config_path)).config
        backends = {"sys/": "system", "auth/token/": "token", f"{config.kv.mount}/": "kv"}
        for cluster in plan(config):
            backends[f"{config.root.mount}/"] = "pki"
            backends[f"{cluster.cluster.intermediate_mount}/"] = "pki"
            backends[f"auth/{cluster.cluster.auth_mount}/"] = "kubernetes"
        yield recorder, backends
    finally:
        configured.server.stop()


def split(path: str, backends: dict[str, str]) -> tuple[str, str]:
    for prefix, backend in sorted(backends.items(), key=lambda item: -len(item[0])):
        if path.startswith(prefix):
            return backend, path.removeprefix(prefix)
    return "unknown", path


def test_every_call_and_response_field_of_verify_vault_is_one_vault_declares(
    api: VaultApi, recorded: tuple[Recorder, dict[str, str]]
) -> None:
    recorder, backends = recorded
    assert len(recorder.calls) >= 10 and recorder.reads, "the recorder saw almost nothing: is it wired?"
    problems: list[str] = []
    routes: dict[str, Any] = {}
    for method, path, sent in recorder.calls:
        backend, inner = split(path, backends)
        operation = "ReadOperation" if method == "GET" else "UpdateOperation"
        target = api.find(backend, inner, operation) if backend in api.paths else None
        if target is None:
            problems.append(f"{method} {path}: no {operation} path of Vault's {backend} backend matches {inner!r}")
            continue
        routes[path] = target
        problems += [
            f"{method} {path} sends {key}, not a field of {target.where}" for key in sent if key not in target.fields
        ]
    for path, keys in sorted(recorder.reads):
        target = routes.get(path)
        backend, _inner = split(path, backends)
        if target is None:
            continue
        if path in LISTINGS:  # keyed by mount path ("pki/"), a name the user chose
            keys = keys[1:]
        if backend == "kv":  # below data/data: the secret's own keys
            keys = keys[:1]
        if "options" in keys[:-1]:
            # The options given at enable time (kv `version`, the audit device's `file_path`), stored and echoed
            # as given: vault/logical_system.go `handleMountTable` / `handleAuditTable` write entry.Options.
            keys = keys[: keys.index("options") + 1]
        problems += [
            f"verify reads {key!r} ({'.'.join(keys)}) from {path}; {target.where} never writes it"
            for key in keys
            if key not in target.response_keys
        ]
    assert problems == [], "\n".join(problems)
