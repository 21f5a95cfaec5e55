"""Reporters: a `Report` as text, JSON, JUnit XML, Prometheus text or one self-contained HTML page. One module
and one registry line per format.

`REPORTER_BY_NAME` feeds the CLI's `--output` choices; a format's module is imported only when it is used, so the
registry costs nothing at start-up. Every reporter passes each string through `redact` on the way out.

Adding a format: a module here defining `render(report, *, collapse_passing_targets, tty) -> str` and one line
in `REPORTER_BY_NAME`.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from ..result import Report

# name -> module of this package; the order is the order `--help` lists them.
REPORTER_BY_NAME: dict[str, str] = {
    "text": "text",
    "json": "json_report",
    "junit": "junit",
    "prometheus": "prometheus",
    "html": "html_report",
}


class Reporter(Protocol):
    def render(self, report: Report, *, collapse_passing_targets: bool = False, tty: bool = False) -> str: ...


def get_reporter(name: str) -> Reporter:
    """The reporter module for `name` (KeyError for an unknown name: the CLI's choices prevent it)."""
    module: Reporter = importlib.import_module(f"{__name__}.{REPORTER_BY_NAME[name]}")
    return module


def emit(report: Report, output: str, stream: TextIO | None = None, *, collapse_passing_targets: bool = False) -> None:
    """Write the report in the requested format to `stream` (stdout by default)."""
    stream = stream or sys.stdout
    reporter = get_reporter(output)
    stream.write(reporter.render(report, collapse_passing_targets=collapse_passing_targets, tty=stream.isatty()))
