"""Every istiod log pattern the cluster checks rely on, against the pinned istio.io/istio's own format strings.

verify/checks/cluster/ca_log.py reads istiod's CA selection (PLUGGED_IN, SELF_SIGNED, CA_FAILURES, each tagged with
the releases that log it) and its reloads (the ``_RELOAD_*``, ``_WATCHING``, ``_MULTIROOT_OFF``, ``_ROOT_REFUSED``
patterns). For the pinned revision (release-1.31, see tests/e2e/istiod/go.mod) the patterns are checked twice:
here, against the format strings of its log and error calls, read from the module cache (``go mod download``),
and in tests/e2e/test_real_istiod.py against the real process's output (run). Older releases are only read, not
run: the module proxy serves no other istio.io/istio revision (tests/oracles/istio_ca/go.mod), so their wording
stays as tests/kube_stub/seed.py transcribes it from each release tag's istio_ca.go; what this test can still say
about them is that a pattern tagged for releases before the pin does not match the pin's sources (else the tag is
wrong, or the check would read a current line as an old release's).
"""

from __future__ import annotations

import functools
import re

import pytest

from istio_vault_ca.verify.checks.chain.versions import NEWEST
from istio_vault_ca.verify.checks.cluster import ca_log
from tests import gobuild
from tests.e2e import real_istiod as ri

pytestmark = [pytest.mark.e2e, pytest.mark.real_istiod]

# Where istiod's CA start-up and reload log and fail: the bootstrap, and the CA it builds.
SOURCE_DIRS = ("pilot/pkg/bootstrap", "security/pkg/pki/ca", "security/pkg/pki/util", "pilot/cmd/pilot-discovery")
# A Go call whose first argument is a format string: log.Infof("..."), fmt.Errorf("..."), errors.New("...").
_CALL = re.compile(r'\b(?:log|fmt|errors|\w*[lL]og\w*)\.[A-Z]\w*\(\s*"((?:[^"\\\n]|\\.)*)"')
_VERB = re.compile(r"%[-+# 0-9.]*[a-zA-Z]")


@functools.lru_cache(maxsize=1)
def pinned_lines() -> tuple[str, ...]:
    """Each format string of the pinned sources as a line istiod could print: verbs filled with a path."""
    try:
        root = gobuild.module_dir(ri.ISTIOD_MODULE, "istio.io/istio")
    except gobuild.GoNotInstalledError as error:
        pytest.skip(str(error))
    lines: list[str] = []
    for directory in SOURCE_DIRS:
        for path in sorted((root / directory).glob("*.go")):
            if path.name.endswith("_test.go"):
                continue
            for match in _CALL.finditer(path.read_text(encoding="utf-8")):
                lines.append(_VERB.sub("/etc/cacerts/x", match.group(1).replace('\\"', '"')))
    assert lines, f"no log or error format strings under {root}"
    return tuple(lines)


def _releases_include(releases: str, release: tuple[int, int]) -> bool:
    """'1.23+', '1.10-1.20', '1.23+ (istio-generated cacerts)' -> whether ``release`` is among them."""
    match = re.match(r"(\d+)\.(\d+)(?:(\+)|-(\d+)\.(\d+))", releases)
    assert match, releases
    first = (int(match.group(1)), int(match.group(2)))
    if match.group(3):
        return release >= first
    return first <= release <= (int(match.group(4)), int(match.group(5)))


SIGNALS = {
    f"{table}: {signal.pattern.pattern}": signal
    for table, signals in (
        ("PLUGGED_IN", ca_log.PLUGGED_IN),
        ("SELF_SIGNED", ca_log.SELF_SIGNED),
        ("CA_FAILURES", ca_log.CA_FAILURES),
    )
    for signal in signals
}
RELOAD_PATTERNS = {
    "_RELOAD_START": ca_log._RELOAD_START,
    "_WATCHING": ca_log._WATCHING,
    "_RELOADED": ca_log._RELOADED,
    "_NEW_ROOT": ca_log._NEW_ROOT,
    "_MULTIROOT_OFF": ca_log._MULTIROOT_OFF,
    "_ROOT_REFUSED": ca_log._ROOT_REFUSED,
    **{f"_RELOAD_FAILED[{i}]": pattern for i, pattern in enumerate(ca_log._RELOAD_FAILED)},
}


def test_the_pin_is_the_newest_release_the_checks_know() -> None:
    """The release tags below are judged against the pin as NEWEST; a moved pin must move NEWEST too."""
    assert "eed52ebb66ad" in ri.istio_version()
    assert NEWEST == (1, 31)


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_a_ca_selection_pattern_matches_the_pinned_source_exactly_when_tagged_for_it(name: str) -> None:
    signal = SIGNALS[name]
    matching = [line for line in pinned_lines() if signal.pattern.search(line)]
    if _releases_include(signal.releases, NEWEST):
        assert matching, f"{name} is tagged {signal.releases} but istio.io/istio {ri.istio_version()} never logs it"
    else:
        assert not matching, f"{name} is tagged {signal.releases}, yet the pinned release logs {matching[0]!r}"


@pytest.mark.parametrize("name", sorted(RELOAD_PATTERNS))
def test_every_reload_pattern_is_in_the_pinned_source(name: str) -> None:
    pattern = RELOAD_PATTERNS[name]
    assert [line for line in pinned_lines() if pattern.search(line)], (
        f"{name} ({pattern.pattern!r}) matches no log line of istio.io/istio {ri.istio_version()}"
    )


def test_the_path_istiod_names_is_captured_whole() -> None:
    """``_PATH`` takes the directory from the real wording (``Use root cert from %s``), so the check compares it."""
    lines = [line for line in pinned_lines() if line.startswith("Use root cert from ")]
    assert lines
    found = ca_log.PLUGGED_IN[2].pattern.search(lines[0])
    assert found is not None and found.group("path") == "/etc/cacerts/x"
