"""The one Jinja environment every text artifact (bash, HCL, Markdown) is rendered with."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2


def templates_dir() -> Path:
    """Templates ship inside the wheel as generator/_templates; a source checkout uses ./templates."""
    packaged = Path(__file__).with_name("_templates")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def sh_quote(value: object) -> str:
    """One single-quoted shell word whatever the value holds: nothing in it is expanded or split.

    Always quoted (unlike shlex.quote) so a value such as `file` never reads as a command to shellcheck or
    to a reviewer.
    """
    return "'" + str(value).replace("'", "'\"'\"'") + "'"


def hcl_quote(value: object) -> str:
    """A double-quoted HCL string; `${` and `%{` are escaped so no template sequence survives."""
    text = json.dumps(str(value), ensure_ascii=False)
    return text.replace("${", "$${").replace("%{", "%%{")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 - output is bash/HCL/Markdown; quoting filters do the escaping
        # bash uses `{#` (`${#array[@]}`), so comments get delimiters bash never writes.
        comment_start_string="{##",
        comment_end_string="##}",
    )
    env.filters["sh_quote"] = sh_quote
    env.filters["hcl_quote"] = hcl_quote
    return env


def render_template(name: str, **context: object) -> str:
    return environment().get_template(name).render(**context)
