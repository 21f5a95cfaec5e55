"""Vault duration strings (`8760h`, `30d`, `1h30m`, `600s`, `3600`), parsed the way Vault parses them."""

from __future__ import annotations

import re

_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^(?:\d+[dhms])+$")
_PART = re.compile(r"(\d+)([dhms])")


def parse_duration(value: str) -> int:
    """Seconds in a Vault duration; raises ValueError with a message a person can act on."""
    text = str(value).strip()
    if text.isdigit():
        seconds = int(text)
    elif _DURATION.match(text):
        seconds = sum(int(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(text))
    else:
        raise ValueError(f"{value!r} is not a Vault duration (examples: 8760h, 30d, 1h30m, 600s)")
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return seconds


def hours(seconds: int) -> str:
    """A canonical Vault duration in whole hours where exact, else seconds."""
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds}s"
