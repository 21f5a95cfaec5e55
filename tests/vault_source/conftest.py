"""The Vault API read from Vault's source, once per session; without Go the tier skips (fails in CI)."""

from __future__ import annotations

import os

import pytest

from tests import gobuild
from tests.vault_source.vault_api import VaultApi, load


@pytest.fixture(scope="session")
def api() -> VaultApi:
    try:
        return load()
    except gobuild.GoNotInstalledError as error:
        if os.environ.get("CI"):
            pytest.fail(str(error))
        pytest.skip(gobuild.GO_MISSING_TEMPLATE.format(tier="vault_source"))
