"""The installers of istiod: how istiod gets the agent annotations and ROOT_CA_DIR, one module per installer.

Each installer module both builds its overlay from the plan (`build`) and reads a rendered one back (`read`), so the
renderer, the rehearsal and the verifier can never disagree on its shape. It also states the file it renders
(`FILE`, relative to the cluster's directory), how a person applies it (`DOC`) and the uid istiod runs as under
it (`ISTIOD_UID`: the agent must write the key as that uid).

Adding an installer: a module here with those four names and one line in generator/config/installers.py; the
config accepts its name in `istiod.outputs`, `render` writes it and `rehearse` reads it back.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ...config.installers import INSTALLER_MODULES

if TYPE_CHECKING:
    from ...config.plan import ClusterPlan

# What `read` finds in a rendered overlay: istiod's pod annotations and its environment.
IstiodSettings = tuple[Mapping[Any, Any], dict[str, str]]


class Installer(Protocol):
    NAME: str
    FILE: str
    DOC: str
    ISTIOD_UID: int

    def build(self, plan: ClusterPlan) -> dict[str, Any]: ...

    def read(self, document: dict[str, Any]) -> IstiodSettings | None: ...


def get_installer(name: str) -> Installer:
    """The installer module for an `istiod.outputs` name (KeyError for an unknown name: the model refuses those)."""
    module: Installer = importlib.import_module(f"{__name__}.{INSTALLER_MODULES[name]}")
    return module


def all_installers() -> list[Installer]:
    return [get_installer(name) for name in INSTALLER_MODULES]
