"""Known failure signatures in a Vault agent log (`vault-agent-init`, `bao agent`), as structured findings.

This is the one place that reads an agent log: the lines it shows for the usual mistakes (Vault's API error
envelope, the Kubernetes auth plugin's messages, consul-template's view and runner errors, Go's network and
x509 errors), most specific first. A finding carries what the log says (kind, path, role, message, code,
template expression, key, and a redacted evidence line); each caller phrases its own cause and hint from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from .result import redact

EVIDENCE_CHARS = 240


class Kind(Enum):
    LOGIN_DENIED = "login-denied"  # the login answered permission denied (TokenReview or auth config)
    ROLE_MISSING = "role-missing"  # invalid role name
    SA_NOT_BOUND = "sa-not-bound"  # service account name not authorized
    NS_NOT_BOUND = "ns-not-bound"  # namespace not authorized
    AUTH_UNCONFIGURED = "auth-unconfigured"  # the auth method has no config
    NO_TOKEN = "no-token"  # no service-account token to log in with
    LOGIN_ERROR = "login-error"  # any other refused login, with its code and message
    READ_DENIED = "read-denied"  # a template's read answered 403 permission denied
    READ_ERROR = "read-error"  # a template's read failed otherwise, with its code and message
    MISSING_KEY = "missing-key"  # a template read a key the secret does not have
    PARSE_ERROR = "parse-error"  # a template does not parse
    TLS = "tls"  # TLS to Vault failed
    UNREACHABLE = "unreachable"  # Vault cannot be reached
    DENIED = "denied"  # permission denied, nothing more specific


# Failures of a login, told apart from the message Vault gave.
LOGIN_KINDS = frozenset(
    {Kind.LOGIN_DENIED, Kind.ROLE_MISSING, Kind.SA_NOT_BOUND, Kind.NS_NOT_BOUND, Kind.AUTH_UNCONFIGURED}
    | {Kind.NO_TOKEN, Kind.LOGIN_ERROR}
)


@dataclass(frozen=True)
class Finding:
    """One recognised failure: its kind, what the log says about it, and the (redacted) line it is on.

    `text` is the matched words (e.g. `connection refused`, `x509: ...`, `map has no entry for key "foo"`);
    `message` and `code` are Vault's error and HTTP status when the log gives them.
    """

    kind: Kind
    evidence: str
    text: str = ""
    path: str | None = None
    role: str | None = None
    message: str | None = None
    code: int | None = None
    expr: str | None = None
    key: str | None = None


# A short run inside one log entry: real newlines are allowed (consul-template prints the API error's own), a
# new timestamped entry is not, so one entry's "Code: 403" is never paired with another's "permission denied".
_S = r"(?:(?!\n\d{4}-\d\d-\d\dT)[\s\S]){0,600}?"
# "* 1 error occurred:" before the real error, with real or hclog-escaped newlines.
_ONE_OF = r"(?:\d+ errors? occurred:(?:\s|\\[nt])*\*\s*)?"

_LOGIN = "login"  # marks the login entry of the table: its message picks the kind
SIGNATURES: tuple[tuple[Kind | str, re.Pattern[str]], ...] = (
    (_LOGIN, re.compile(r"/login" + _S + r"Code: (?P<code>\d+)\." + _S + r"\* " + _ONE_OF + r"(?P<message>[^\n]+)")),
    (
        # Not the "failed to check if X is KVv2" warning, which also says 403 and is harmless.
        Kind.READ_DENIED,
        re.compile(
            r"vault\.read\((?P<path>[^)\s]+)\):(?: vault\.read\([^)\s]+\):)? Error making API request\."
            + _S
            + r"Code: (?P<code>403)\."
            + _S
            + r"(?P<message>permission denied)"
        ),
    ),
    (
        Kind.READ_ERROR,
        re.compile(
            r"vault\.read\((?P<path>[^)\s]+)\)"
            + _S
            + r"Code: (?P<code>\d+)\."
            + _S
            + r"\* "
            + _ONE_OF
            + r"(?P<message>[^\n\"\\(]+)"
        ),
    ),
    (Kind.ROLE_MISSING, re.compile(r"invalid role name \\?\"(?P<role>[^\"\\]+)\\?\"")),
    (Kind.SA_NOT_BOUND, re.compile(r"service account name not authorized")),
    (Kind.NS_NOT_BOUND, re.compile(r"namespace not authorized")),
    (Kind.AUTH_UNCONFIGURED, re.compile(r"could not load backend configuration")),
    (Kind.NO_TOKEN, re.compile(r"error reading JWT with Kubernetes Auth")),
    (
        Kind.MISSING_KEY,
        re.compile(
            r"(?:at <(?P<expr>[^>]+)>: )?"
            r"(?P<text>map has no entry for key \\?\"(?P<key>[^\"\\]+)\\?\"|<no value>)"
        ),
    ),
    (Kind.PARSE_ERROR, re.compile(r"\(dynamic\): parse: (?P<message>[^\n\"]+)")),
    (
        Kind.TLS,
        re.compile(
            r"x509: [^\n\"\\]+|tls: [^\n\"\\]+|server gave HTTP response to HTTPS client|"
            r"certificate signed by unknown authority"
        ),
    ),
    (
        Kind.UNREACHABLE,
        re.compile(r"connection refused|no such host|i/o timeout|context deadline exceeded|network is unreachable"),
    ),
    (Kind.DENIED, re.compile(r"permission denied")),
)
# What a refused login's message says, most specific first; a message matching none is a LOGIN_ERROR.
_LOGIN_REASON_KINDS = (Kind.ROLE_MISSING, Kind.SA_NOT_BOUND, Kind.NS_NOT_BOUND, Kind.AUTH_UNCONFIGURED, Kind.NO_TOKEN)
_LOGIN_REASONS: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    *((kind, pattern) for kind, pattern in SIGNATURES if isinstance(kind, Kind) and kind in _LOGIN_REASON_KINDS),
    (Kind.LOGIN_DENIED, re.compile(r"permission denied")),
)


def find(log: str) -> Finding | None:
    """The first known failure in the log (most specific first), or None when nothing is recognised."""
    for kind, pattern in SIGNATURES:
        match = pattern.search(log)
        if match is None:
            continue
        groups = match.groupdict()
        message = groups.get("message")
        role = groups.get("role")
        position = match.start()
        if kind == _LOGIN:
            assert message is not None
            position = match.start("message")  # the line Vault's reason is on, in multi-line error blocks
            # Multi-line error blocks end the message at the newline; one-line ones at `\n` or the closing quote.
            message = re.split(r'\\n|"\s+\w+=', message)[0].replace('\\"', '"').strip()
            kind, role = _login_kind(message)
        assert isinstance(kind, Kind)
        code = groups.get("code")
        return Finding(
            kind=kind,
            evidence=evidence(log, position),
            text=redact((groups.get("text") or match.group(0)).strip()),
            path=groups.get("path"),
            role=role,
            message=redact(message.strip()) if message is not None else None,
            code=int(code) if code is not None else None,
            expr=groups.get("expr"),
            key=groups.get("key"),
        )
    return None


def _login_kind(message: str) -> tuple[Kind, str | None]:
    for kind, pattern in _LOGIN_REASONS:
        match = pattern.search(message)
        if match:
            return kind, match.groupdict().get("role")
    return Kind.LOGIN_ERROR, None


def evidence(log: str, position: int) -> str:
    """The log line holding `position`, redacted and shortened, for the finding."""
    start = log.rfind("\n", 0, position) + 1
    end = log.find("\n", position)
    line = " ".join(log[start : end if end != -1 else len(log)].split())
    line = redact(line)
    return line if len(line) <= EVIDENCE_CHARS else line[: EVIDENCE_CHARS - 1] + "…"


def last_lines(log: str, count: int = 3) -> str:
    """The tail of an unrecognised log, redacted, so the finding still shows something to go on."""
    lines = [line.strip() for line in log.strip().splitlines() if line.strip()][-count:]
    return " | ".join(redact(line)[:EVIDENCE_CHARS] for line in lines)
