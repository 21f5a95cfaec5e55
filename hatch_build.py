"""Editable installs of the checkout under the one import package of ours, ``istio_vault_ca``.

The repository keeps ``generator/`` and ``verify/`` at the top (they are the design) and the wheel installs them as
``istio_vault_ca.generator`` and ``istio_vault_ca.verify``. An editable install cannot add that prefix by itself
(hatchling's editable wheels put directories on ``sys.path`` or map top-level names only), so for ``pip install -e .``
this hook writes one file into the editable wheel: ``istio_vault_ca/__init__.py`` whose ``__path__`` is this
checkout's root. ``import istio_vault_ca.verify`` then finds ``<checkout>/verify`` and nothing else of the checkout is
put on ``sys.path`` (the unrelated PyPI distributions named ``generator`` and ``verify`` are never shadowed). Inside
the package every import is relative, so a reader, an IDE and static tools resolve each one to its file in the
checkout without any link.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class EditablePrefixHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version != "editable":
            return
        root = Path(self.root).resolve()
        self._scratch = tempfile.TemporaryDirectory(prefix="istio-vault-ca-editable-")
        init = Path(self._scratch.name) / "__init__.py"
        init.write_text(
            '"""Editable install of istio-vault-ca: the package is the checkout below (generator/, verify/)."""\n'
            f"__path__ = [{str(root)!r}]\n"
        )
        build_data["force_include_editable"][str(init)] = "istio_vault_ca/__init__.py"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        scratch = getattr(self, "_scratch", None)
        if scratch is not None:
            scratch.cleanup()
