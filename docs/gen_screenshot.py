"""Make the HTML report's screenshot the docs show (docs/img/report.png), the way tests/browser takes one.

    python docs/gen_screenshot.py          # (re)write docs/img/report.png
    python docs/gen_screenshot.py OUT.png  # write it elsewhere

A fleet of three directories is made in a fresh temporary directory with the test suite's certificate factory
(tests/pki_factory.py): `east` healthy, `north` with an expired intermediate, `south` with an intermediate inside
the 30-day warning window. `istio-vault-ca verify chain east north south --output html` (the one beside this
Python) writes the page, and Debian's chromium paints it headless with tests/browser/chromium.py's `screenshot`:
the same flags, window size and checks (a PNG of that size, not blank) as the browser test. `make screenshot`
runs this; it needs chromium (`make chromium` installs it as root).
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the repository root: tests/ is importable as in the test suite

from tests import pki_factory as pki  # noqa: E402
from tests.browser import chromium  # noqa: E402

PNG = DOCS / "img" / "report.png"
WIDTH, HEIGHT = 1280, 1400
CLI = Path(sys.executable).with_name("istio-vault-ca")


def fleet(base: Path) -> list[str]:
    """Three cluster directories under `base`, named as a person would pass them."""
    pki.good_bundle().write(base / "east")
    pki.BAD_BUNDLES["expired intermediate"][0]().write(base / "north")
    _, top = pki.good_pair()
    soon = pki.intermediate(top, not_after=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=20))
    pki.assemble(soon, top).write(base / "south")
    return ["east", "north", "south"]


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else PNG
    with tempfile.TemporaryDirectory(prefix="ivc-screenshot-") as temp:
        base = Path(temp)
        names = fleet(base)
        done = subprocess.run(
            [str(CLI), "verify", "chain", *names, "--output", "html"],
            cwd=base,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode not in (0, 1) or not done.stdout.startswith("<!DOCTYPE html>"):
            print(f"verify chain failed ({done.returncode}): {done.stderr}", file=sys.stderr)
            return 1
        page = base / "report.html"
        page.write_text(done.stdout, encoding="utf-8")
        out.parent.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("chromium")
        if binary is None:
            print("needs Debian's chromium: apt-get install -y chromium (or make chromium as root)", file=sys.stderr)
            return 1
        run = chromium.screenshot(page, out, WIDTH, HEIGHT, binary=binary)
    picture = chromium.read_png(out.read_bytes()) if out.exists() else None
    if run.returncode != 0 or picture is None or (picture.width, picture.height) != (WIDTH, HEIGHT):
        print(f"chromium did not write a {WIDTH}x{HEIGHT} screenshot:\n{run.log[-2000:]}", file=sys.stderr)
        return 1
    if len(set(picture.pixels)) < 200 or run.console():
        print(f"the screenshot looks blank or the page logged {run.console()}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({WIDTH}x{HEIGHT})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
