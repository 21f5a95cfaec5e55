"""Every Vault call the rendered scripts make, checked against HashiCorp Vault 1.21.4's own source.

The path must route to a framework.Path of the backend it targets that has the operation; every key=value the
script sends must be one of that path's fields, with a value the field's type accepts; every `-field=X` it reads
must be a key the handler writes into its response. The trees are out/ and every tests/golden tree, so a template
change that sends a parameter Vault does not declare fails here, naming the script line and the Vault file.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.support import REPO
from tests.vault_source.scripts import Call, calls_in, cli_calls_in, trees
from tests.vault_source.vault_api import VaultApi

pytestmark = pytest.mark.vault_source

DURATION = re.compile(r"^\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d)?$")
# What a CLI value (a string, or `@file` read as one) must look like for a field of each type: the framework
# parses strings into the type (sdk/framework/field_type.go, field_data.go `FieldData.getPrimitive`).
ACCEPTS: dict[str, Callable[[str], bool]] = {
    "TypeString": lambda v: True,
    "TypeLowerCaseString": lambda v: True,
    "TypeNameString": lambda v: True,
    "TypeCommaStringSlice": lambda v: True,
    "TypeStringSlice": lambda v: True,
    "TypeCommaIntSlice": lambda v: all(p.strip().isdigit() for p in v.split(",")),
    "TypeInt": lambda v: v.lstrip("-").isdigit(),
    "TypeInt64": lambda v: v.lstrip("-").isdigit(),
    "TypeBool": lambda v: v in ("true", "false", "1", "0"),
    "TypeDurationSecond": lambda v: bool(DURATION.match(v)),
    "TypeSignedDurationSecond": lambda v: bool(DURATION.match(v.lstrip("-"))),
}


def _refuse(_value: str) -> bool:
    """A field type no CLI value is checked for (TypeMap, TypeKVPairs...): sending one is a finding."""
    return False


def all_calls() -> list[Call]:
    found: list[Call] = []
    for script in trees(REPO):
        name = script.relative_to(REPO).as_posix()
        found += calls_in(script, name) + cli_calls_in(script, name)
    return found


def problems_of(api: VaultApi, call: Call) -> list[str]:
    """What is wrong with one call, in words naming the script line and the Vault source."""
    if call.backend not in api.paths:
        return [f"{call.where}: {call.raw_path} is on no backend this test knows (add it to scripts.BACKENDS)"]
    target = api.find(call.backend, call.path, call.operation)
    if target is None:
        return [f"{call.where}: no {call.operation} path in Vault's {call.backend} backend matches {call.path!r}"]
    found: list[str] = []
    for key, value in call.params.items():
        kind = target.fields.get(key)
        if kind is None:
            found.append(f"{call.where}: {call.path} sends {key}, which {target.where} does not declare")
        elif value != "{cli}" and not ACCEPTS.get(kind, _refuse)(value):
            found.append(f"{call.where}: {call.path} sends {key}={value!r}, not a {kind} ({target.where})")
    for key in call.reads:
        if key not in target.response_keys:
            handler = target.operations.get(call.operation, "?")
            found.append(
                f"{call.where}: reads {key} from {call.path}; {target.where} handler {handler} never writes it"
            )
    return found


def test_the_scripts_make_the_calls_this_test_checks() -> None:
    """Guards the parser: the calls the rendered trees must make are found (a parser that finds none passes
    everything)."""
    made = {(call.backend, call.operation, call.path) for call in all_calls()}
    for expected in [
        ("pki", "UpdateOperation", "root/generate/internal"),
        ("pki", "UpdateOperation", "intermediate/generate/exported"),
        ("pki", "UpdateOperation", "intermediate/generate/existing"),
        ("pki", "UpdateOperation", "root/sign-intermediate"),
        ("pki", "UpdateOperation", "intermediate/set-signed"),
        ("pki", "UpdateOperation", "config/issuers"),
        ("kubernetes", "UpdateOperation", "config"),
        ("kubernetes", "UpdateOperation", "role/istiod"),
        ("system", "UpdateOperation", "mounts/x1/tune"),
        ("system", "UpdateOperation", "audit/x1"),
        ("system", "UpdateOperation", "policies/acl/x1"),
        ("kv", "UpdateOperation", "data/x1"),
    ]:
        assert expected in made


def test_every_call_of_the_rendered_scripts_is_one_vault_declares(api: VaultApi) -> None:
    problems = sorted({problem for call in all_calls() for problem in problems_of(api, call)})
    assert problems == [], "\n".join(problems)


def test_a_parameter_vault_does_not_declare_is_caught(api: VaultApi) -> None:
    """The check can fail: a made-up parameter, a wrong type, a response field no handler writes."""
    call = Call(
        "made-up.sh",
        1,
        "UpdateOperation",
        "pki",
        "$ROOT_MOUNT/root/sign-intermediate",
        "root/sign-intermediate",
        {"ttl": "43800h", "max_path_length": "zero", "key_bitz": "4096"},
        ("certificate", "private_key"),
    )
    problems = problems_of(api, call)
    assert len(problems) == 3, problems
    assert any("sends key_bitz, which" in p and "path_sign_issuers.go" in p for p in problems), problems
    assert any("max_path_length='zero', not a TypeInt" in p for p in problems), problems
    assert any("reads private_key from root/sign-intermediate" in p for p in problems), problems


def test_the_types_are_read_from_vaults_field_schemas(api: VaultApi) -> None:
    """Spot values from the source (builtin/logical/pki/fields.go, path_sign_issuers.go; the Kubernetes plugin's
    path_role.go with sdk/helper/tokenutil's token fields)."""
    sign = api.find("pki", "root/sign-intermediate")
    assert sign is not None and sign.file == "path_sign_issuers.go"
    assert (sign.fields["ttl"], sign.fields["max_path_length"], sign.fields["use_csr_values"]) == (
        "TypeDurationSecond",
        "TypeInt",
        "TypeBool",
    )
    role = api.find("kubernetes", "role/istiod")
    assert role is not None
    assert (role.fields["token_policies"], role.fields["token_period"]) == (
        "TypeCommaStringSlice",
        "TypeDurationSecond",
    )
    assert api.find("pki", "root/generate/nonsense/extra") is None


def test_what_the_rehearsal_compares_is_what_vault_answers(api: VaultApi) -> None:
    """The rerun step's comparison (verify/rehearsal/scripts.py `vault_state`) reads `type`, `options`, `config`
    of each mount in sys/mounts, the `keys` of a PKI mount's issuers/ and keys/ listings, and `certificate`: keys
    Vault writes (vault/logical_system.go `handleMountTable`; sdk/logical/response.go `ListResponse`)."""
    mounts = api.find("system", "mounts", "ReadOperation")
    assert mounts is not None and {"type", "options", "config"} <= mounts.response_keys
    for listing in ("issuers", "keys"):
        found = api.find("pki", listing, "ListOperation")
        assert found is not None and "keys" in found.response_keys, listing
    cert = api.find("pki", "cert/ca", "ReadOperation")
    assert cert is not None and "certificate" in cert.response_keys
