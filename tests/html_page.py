"""Reading an `--output html` page in tests: it is well-formed XML after its doctype (every element closed, every
attribute quoted, only XML's entities), so xml.etree finds its sections, rows and SVG shapes; html.parser collects
every tag and attribute to prove there is no script and no reference to fetch."""

from __future__ import annotations

from html.parser import HTMLParser
from xml.etree import ElementTree as ET

DOCTYPE = "<!DOCTYPE html>\n"


def parse(text: str) -> ET.Element:
    assert text.startswith(DOCTYPE), text[:80]
    return ET.fromstring(text[len(DOCTYPE) :])  # noqa: S314 - our own output


def section(page: ET.Element, section_id: str) -> ET.Element:
    found = page.find(f".//*[@id='{section_id}']")
    assert found is not None, f"no #{section_id}"
    return found


def text_of(element: ET.Element) -> str:
    return "".join(element.itertext())


def check_rows(element: ET.Element) -> list[ET.Element]:
    return element.findall(".//tr[@data-check]")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


def tags(text: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every start tag and its attributes as a browser's tokenizer sees them (html.parser, not the XML view)."""
    parser = _Tags()
    parser.feed(text)
    parser.close()
    return parser.tags


def assert_self_contained(text: str) -> None:
    """No script, no frame or object, no attribute that loads something, no URL in the style sheet or in any
    attribute but the data-* and aria-label ones that name a target (a Vault address is text, not a reference)."""
    assert "<script" not in text.lower()
    style = text[text.index("<style>") : text.index("</style>")]
    assert "url(" not in style and "@import" not in style and "://" not in style
    for tag, attrs in tags(text):
        assert tag not in ("script", "iframe", "object", "embed", "link", "img", "image", "use", "base"), tag
        names = {name for name, _ in attrs}
        assert not names & {"src", "href", "xlink:href", "srcset", "action", "poster", "style"}, (tag, attrs)
        assert not any(name.startswith("on") for name in names), (tag, attrs)
        for name, value in attrs:
            if not (name.startswith("data-") or name == "aria-label"):
                assert "://" not in (value or ""), (tag, name, value)
