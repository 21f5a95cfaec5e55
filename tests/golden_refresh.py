"""Re-render every example into tests/golden/<example>/ (run by `make golden` after an intended change)."""

from __future__ import annotations

import shutil

from tests.support import EXAMPLES, GOLDEN, render_into


def main() -> None:
    for config in sorted(EXAMPLES.glob("*.yaml")):
        target = GOLDEN / config.stem
        shutil.rmtree(target, ignore_errors=True)
        render_into(config, target)
        print(f"refreshed {target.relative_to(GOLDEN.parent.parent)}")


if __name__ == "__main__":
    main()
