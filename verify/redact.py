"""Redaction of key material from any text the tool prints, logs or reports.

Its own module below both the checks (reports) and the clients (error messages quoting Vault's answers), so that
neither layer imports the other for it; verify/checks/result.py re-exports it for the checks and reporters.
"""

from __future__ import annotations

import re

# PEM as RFC 7468 writes it: a label of capitals (PRIVATE KEY, EC PRIVATE KEY), base64 lines, optional headers
# (Proc-Type: 4,ENCRYPTED). Only that is key material: our own words about PEM ("a -----BEGIN line without its
# -----END?") have no label of capitals, and words on the BEGIN line are never base64 lines, so they stay.
_BEGIN = r"-----BEGIN [A-Z0-9][A-Z0-9 ]*-----"
_END = r"-----END [A-Z0-9][A-Z0-9 ]*-----"
# A complete block, its lines joined by newlines or (pasted into one line) by spaces.
_PEM_BLOCK = re.compile(_BEGIN + r"[A-Za-z0-9+/=\s:,.-]*?" + _END)
# A block without its END (a truncated file): the BEGIN line and each line after it that is base64 (a whole line,
# or 16 base64 characters or more where the file was cut) or an RFC 1421 header (Proc-Type:, DEK-Info:), blank
# lines between them included; a BEGIN line with nothing of that after it is words, not key material.
_WHOLE = r"(?=[ \t]*(?:\r?\n|$))"
_PEM_LINE = rf"(?:[A-Za-z0-9+/=]{{16,}}|[A-Za-z0-9+/=]+{_WHOLE}|[A-Z][A-Za-z]*-[A-Za-z-]+:[^\n]*)"
# After a private key's BEGIN line nothing is ours: everything up to its END (or the end of the text) goes.
_KEY_OPEN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:" + _END + "|$)", re.DOTALL)
_PEM_OPEN = re.compile(_BEGIN + r"(?:(?:[ \t]*\r?\n)+[ \t]*" + _PEM_LINE + ")+")
# A long run of base64 mixing digits and both cases (a plain directory path rarely does).
_BASE64_RUN = re.compile(r"(?=[A-Za-z0-9+/=]*[0-9])(?=[A-Za-z0-9+/=]*[A-Z])(?=[A-Za-z0-9+/=]*[a-z])[A-Za-z0-9+/=]{48,}")


def redact(text: str) -> str:
    """Remove anything that could be key material (PEM blocks, long base64 runs) from output text."""
    text = _PEM_BLOCK.sub("[redacted PEM]", text)
    text = _PEM_OPEN.sub("[redacted PEM]", _KEY_OPEN.sub("[redacted PEM]", text))
    return _BASE64_RUN.sub("[redacted]", text)
