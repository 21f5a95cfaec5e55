"""What changed across Istio releases in how istiod loads a plugged-in CA directory, in one place.

Each fact cites the upstream file and function (istio/istio) and the release it arrived in, read from the release
tags. The default is the newest release the test oracle is built from (tests/oracles/istio_ca pins istio.io/istio
on the release-1.31 branch); `--istio-version X.Y[.Z]` judges for an older istiod (X.Y means its newest patch).
"""

from __future__ import annotations

import re
from typing import NamedTuple

OLDEST = (1, 12)
NEWEST = (1, 31)


# A release named without its patch ("1.26") is judged as its newest patch.
LATEST_PATCH = 999

# How istiod takes in CA files that change while it runs, read from istio/istio pilot/pkg/bootstrap/istio_ca.go at
# the tags 1.12.0, 1.13.0, 1.14.0, 1.16.0, 1.18.0, 1.19.0, 1.20.0 ... 1.30.0 and release-1.31; one place for each
# fact: verify/checks/cluster/ca_log.py words its findings from these.
# `addCACertsFileWatcher` ("Added cacerts files watcher at DIR") exists from 1.12, and reloads a new intermediate
# (handleEvent); 1.12-1.18 start it only with AUTO_RELOAD_PLUGIN_CERTS=true (pilot/pkg/features/pilot.go
# AutoReloadPluginCerts, default false); from 1.19 the flag is gone and the watcher always runs. 1.10-1.11: none.
WATCHER_FROM = (1, 12)
WATCHER_ALWAYS_FROM = (1, 19)
# handleEvent takes a changed root-cert.pem only from 1.20, with ISTIO_MULTIROOT_MESH=true (features MultiRootMesh,
# read at start), and only when one bundle holds the other: `bytes.Contains` on the PEM bytes until 1.29,
# `pemBundleHasSubsetRelation` (certificate by certificate) from 1.30. Before 1.20 a changed root is never taken.
MULTIROOT_FROM = (1, 20)
CERT_SUBSET_FROM = (1, 30)
AUTO_RELOAD_FLAG = "AUTO_RELOAD_PLUGIN_CERTS=true"


def since(release: tuple[int, int]) -> str:
    """'1.19+'"""
    return f"{release[0]}.{release[1]}+"


def until(first: tuple[int, int], next_release: tuple[int, int]) -> str:
    """'1.12-1.18': from `first` to the release before `next_release` (same major)."""
    return f"{first[0]}.{first[1]}-{next_release[0]}.{next_release[1] - 1}"


# The facts as findings and reports say them.
INTERMEDIATE_RELOAD_NEEDS_FLAG = until(WATCHER_FROM, WATCHER_ALWAYS_FROM)  # 1.12-1.18
ROOT_NEVER_RELOADED = until(WATCHER_FROM, MULTIROOT_FROM)  # 1.12-1.19
# 1.10 is the oldest release whose istiod log verify reads (cluster.istiod-ca-log's wording table).
NO_WATCHER = until((1, 10), WATCHER_FROM)  # 1.10-1.11
BYTE_CONTAINMENT = until(MULTIROOT_FROM, CERT_SUBSET_FROM)  # 1.20-1.29


class IstioVersion(NamedTuple):
    major: int
    minor: int
    patch: int = LATEST_PATCH

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}" + ("" if self.patch == LATEST_PATCH else f".{self.patch}")

    def at_least(self, major: int, minor: int, patch: int = 0) -> bool:
        return (self.major, self.minor, self.patch) >= (major, minor, patch)

    @property
    def beyond_model(self) -> bool:
        """A release newer than NEWEST: every fact here is "from release X on", so it is judged as NEWEST is, and
        the report says so (chain.istio-release warns) rather than refusing a user who upgraded first."""
        return (self.major, self.minor) > NEWEST

    @property
    def refuses_incomplete_bundle(self) -> bool:
        """1.26.1+ (istio/istio#55696): `pilot/pkg/bootstrap/istio_ca.go` createIstioCA calls
        checkCABundleCompleteness and fails with "incomplete signing CA bundle detected" when some but not all
        files exist. Before, it looked only for the signing key: without it istiod silently created its own
        self-signed root (istio-ca-secret); with it, a missing other file failed NewPluggedCertIstioCAOptions."""
        return self.at_least(1, 26, 1)

    @property
    def reads_tls_secret_layout(self) -> bool:
        """1.14.2+ and 1.15+ (istio/istio#39732): detectSigningCABundle (istio_ca.go) uses tls.crt / tls.key /
        ca.crt when tls.crt exists, instead of the four istio names (a `kubernetes.io/tls` Secret); the chain is
        then tls.crt followed by ca.crt."""
        return self.at_least(1, 14, 2)

    @property
    def reads_crl(self) -> bool:
        """1.27+ (istio/istio#56308): with PILOT_ENABLE_CA_CRL (default true) detectSigningCABundleAndCRL loads
        ca-crl.pem when it exists, and `security/pkg/pki/util/keycertbundle.go` Verify requires a CRL signed by
        every certificate of cert-chain.pem."""
        return self.at_least(1, 27)

    @property
    def intermediate_reload(self) -> str:
        """Whether istiod reloads a changed intermediate (same root) without a restart: 'always' from 1.19,
        'with AUTO_RELOAD_PLUGIN_CERTS=true' on 1.12-1.18, 'never' before (see WATCHER_FROM)."""
        if self.at_least(*WATCHER_ALWAYS_FROM):
            return "always"
        return f"with {AUTO_RELOAD_FLAG}" if self.at_least(*WATCHER_FROM) else "never"

    @property
    def root_reload(self) -> str | None:
        """How istiod compares a changed root-cert.pem with the loaded bundle when ISTIO_MULTIROOT_MESH=true (it
        takes it when one holds the other): 'bytes' (bytes.Contains) on 1.20-1.29, 'certificates'
        (pemBundleHasSubsetRelation) from 1.30; None before 1.20, which never take a changed root."""
        if self.at_least(*CERT_SUBSET_FROM):
            return "certificates"
        return "bytes" if self.at_least(*MULTIROOT_FROM) else None


DEFAULT = IstioVersion(*NEWEST)


def parse_version(text: str) -> IstioVersion:
    """'1.24' (its newest patch), '1.24.3', 'v1.24.3-distroless'; ValueError for a release older than OLDEST.

    A release newer than NEWEST is accepted as itself (`beyond_model`): judged with the newest facts, with a WARN."""
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not match:
        raise ValueError(f"{text!r} is not an Istio version (expected X.Y or X.Y.Z, e.g. {DEFAULT})")
    patch = int(match.group(3)) if match.group(3) is not None else LATEST_PATCH
    version = IstioVersion(int(match.group(1)), int(match.group(2)), patch)
    if version < IstioVersion(*OLDEST, 0):
        raise ValueError(
            f"Istio {version} is older than the releases this verifier models "
            f"({IstioVersion(*OLDEST)} to {IstioVersion(*NEWEST)})"
        )
    return version
