"""The HTML report in a real browser: Debian's chromium, headless, on a page `verify chain --output html` wrote for
a fleet of three directories (one good, one with an expired intermediate, one whose root-cert.pem holds a key).

What a reviewer would notice is asserted: the page renders (chromium exits 0 and paints a screenshot of the size
asked for that is not blank, with the timeline's and the diagram's colours in it), the DOM chromium built holds
the diagram and the timeline with every certificate, and the browser's log has no console message and no load of
anything but the page. A control page that does load a missing image and runs a script proves the log shows both.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests import pki_factory as pki
from tests.browser import chromium
from tests.support import run_cli

WIDTH, HEIGHT = 1280, 1600
# Colours of the style sheet (verify/checks/reporters/html_style.py): a timeline bar that is fine, a root's box.
BAR_OK = (0x1A, 0x7F, 0x37)
ROOT_FILL = (0xDD, 0xF4, 0xFF)


class _Classes(HTMLParser):
    """The class attribute of every element chromium serialised, in order, with its tag."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def elements(dom: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Classes()
    parser.feed(dom)
    return parser.elements


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chromium.require()
    base = tmp_path_factory.mktemp("report")
    dirs = [
        pki.good_bundle().write(base / "east"),
        pki.BAD_BUNDLES["expired intermediate"][0]().write(base / "north"),
        pki.BAD_BUNDLES["private key in a certificate file"][0]().write(base / "west"),
    ]
    result = run_cli("verify", "chain", *dirs, "--output", "html")
    assert result.returncode == 1, result.stderr
    path = base / "report.html"
    path.write_text(result.stdout, encoding="utf-8")
    return path


def test_the_page_renders_without_console_messages_or_loads(page: Path) -> None:
    run = chromium.run(page, "--dump-dom")
    assert run.returncode == 0, run.log[-2000:]
    assert run.console() == []
    assert run.loads() == [page.resolve().as_uri()]


def test_the_dom_holds_the_diagram_and_the_timeline(page: Path) -> None:
    run = chromium.run(page, "--dump-dom")
    found = elements(run.stdout)
    svgs = [attrs.get("class") for tag, attrs in found if tag == "svg"]
    assert svgs == ["timeline", "chain", "chain", "chain"]
    rows = [attrs for tag, attrs in found if tag == "g" and (attrs.get("class") or "").startswith("row ")]
    # Two certificates per directory, each read from two files, one row each.
    assert len(rows) == 6
    assert sorted({Path(str(attrs["data-target"])).name for attrs in rows}) == ["east", "north", "west"]
    assert [attrs["class"] for attrs in rows if "north" in str(attrs["data-target"])] == [
        "row expiry-ok",
        "row expiry-expired",
    ]
    nodes = [attrs.get("class") for tag, attrs in found if tag == "g" and "node" in (attrs.get("class") or "")]
    assert nodes.count("node cert-leaf status-pass") == 1 and nodes.count("node cert-leaf status-fail") == 1
    assert any(tag == "g" and attrs.get("class") == "today" for tag, attrs in found)


def test_the_screenshot_is_a_picture_of_the_page(page: Path, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    run = chromium.screenshot(page, png, WIDTH, HEIGHT)
    assert run.returncode == 0, run.log[-2000:]
    picture = chromium.read_png(png.read_bytes())
    assert (picture.width, picture.height) == (WIDTH, HEIGHT)
    grey = [(r * 299 + g * 587 + b * 114) // 1000 for r, g, b in picture.pixels]
    mean = sum(grey) / len(grey)
    variance = sum((value - mean) ** 2 for value in grey) / len(grey)
    assert variance > 100, f"a blank page: variance {variance:.1f}"
    assert len(set(picture.pixels)) > 200
    # The timeline's green bars and the diagram's root boxes were painted, not just text.
    assert picture.pixels.count(BAR_OK) > 500
    assert picture.pixels.count(ROOT_FILL) > 2000
    assert run.console() == []


def test_the_log_shows_a_load_and_a_console_message_when_there_are_some(tmp_path: Path) -> None:
    """The control: what the assertions above watch for does show in chromium's log when it happens."""
    chromium.require()
    control = tmp_path / "control.html"
    control.write_text(
        '<!DOCTYPE html><html><body><img src="missing.png"><script>console.error("control")</script></body></html>',
        encoding="utf-8",
    )
    run = chromium.run(control, "--dump-dom")
    assert (tmp_path / "missing.png").as_uri() in run.loads()
    assert any('"control"' in message for message in run.console()), run.console()
