"""Debian's `chromium`, driven headless from its command line, for the HTML report's browser test and the docs'
screenshot (docs/gen_screenshot.py makes it with `screenshot` here, so the picture is made the way it is tested).

Nothing is installed here: `make test` installs the package when missing and running as root (the `chromium`
target, like `prometheus-tools`). Absent locally the tests skip saying so; with CI set they fail, since CI must run
them. Each run gets a fresh profile directory and the browser's own background traffic turned off as far as its
flags allow; what the browser logs (`--enable-logging=stderr`, verbose level 1) is kept so a test can read every
console message and every URL it started loading.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path
from typing import NamedTuple

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root in CI containers, where chromium's sandbox cannot start
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=1",
)
# A console message as chromium logs it: "[pid:tid:date:INFO:CONSOLE:1] "message", source: ..."
CONSOLE = re.compile(r":CONSOLE(?::\d+)?\] (.*)")
# A URL the browser started loading: a file through its file loader, anything else through the network stack.
FILE_LOAD = re.compile(r"FileURLLoader::Start: (\S+)")
NET_LOAD = re.compile(r"NotifyBeforeURLRequest: (\S+)")
# The browser's own background requests (time, updates, accounts, spelling dictionaries) that the flags above do
# not all stop: they are chromium's, not the page's, and are told apart by host.
OWN_HOSTS = re.compile(r"^https?://([a-z0-9-]+\.)*(google\.com|googleapis\.com|gvt1\.com|gstatic\.com)/")


def require() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "needs Debian's `chromium` (apt-get install -y chromium; `make test` does it as root)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must have chromium: {message}")
        pytest.skip(message)
    return path


class Run(NamedTuple):
    returncode: int
    stdout: str
    log: str

    def console(self) -> list[str]:
        return [match.group(1) for match in CONSOLE.finditer(self.log)]

    def loads(self) -> list[str]:
        """Every URL the page made the browser load (the browser's own background requests left out)."""
        urls = [m.group(1) for m in FILE_LOAD.finditer(self.log)] + [m.group(1) for m in NET_LOAD.finditer(self.log)]
        return [url for url in urls if not OWN_HOSTS.match(url)]


def run(page: Path, *args: str, binary: str | None = None, timeout: float = 120) -> Run:
    """chromium on `page` (a file) with `args` after the common flags, in a fresh profile."""
    with tempfile.TemporaryDirectory(prefix="ivc-chromium-") as profile:
        done = subprocess.run(
            [binary or require(), *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    return Run(done.returncode, done.stdout, done.stderr)


def screenshot(page: Path, png: Path, width: int, height: int, binary: str | None = None) -> Run:
    """The page as chromium paints it in a window of width x height, written to `png`."""
    return run(page, f"--screenshot={png.resolve()}", f"--window-size={width},{height}", binary=binary)


class Png(NamedTuple):
    width: int
    height: int
    pixels: list[tuple[int, int, int]]  # RGB, row after row


def read_png(data: bytes) -> Png:
    """An 8-bit RGB or RGBA PNG decoded with the standard library (chunks, zlib, the five row filters), enough to
    prove a screenshot is a real picture of the size asked for; ValueError for anything else."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG signature")
    offset, chunks = 8, []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])[0]:
            raise ValueError(f"bad CRC in {kind!r}")
        chunks.append((kind, body))
        offset += 12 + length
    if chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
        raise ValueError("IHDR first and IEND last")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}")
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise ValueError("image data is not width x height")
    previous = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for row in range(height):
        kind, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1 : (row + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
            elif kind != 0:
                raise ValueError(f"unknown filter {kind}")
        pixels += [tuple(line[i : i + 3]) for i in range(0, stride, channels)]  # type: ignore[misc]
        previous = line
    return Png(width, height, pixels)
