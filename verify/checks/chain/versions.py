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


class IstioVersion(NamedTuple):
    major: int
    minor: int
    patch: int = LATEST_PATCH

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}" + ("" if self.patch == LATEST_PATCH else f".{self.patch}")

    def at_least(self, major: int, minor: int, patch: int = 0) -> bool:
        return (self.major, self.minor, self.patch) >= (major, minor, patch)

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
    def hot_reloads(self) -> bool:
        """1.12+: istiod watches ROOT_CA_DIR (fsnotify) and reloads a new intermediate under the same root."""
        return self.at_least(1, 12)


DEFAULT = IstioVersion(*NEWEST)


def parse_version(text: str) -> IstioVersion:
    """'1.24' (its newest patch), '1.24.3', 'v1.24.3-distroless'; ValueError naming the supported range otherwise."""
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not match:
        raise ValueError(f"{text!r} is not an Istio version (expected X.Y or X.Y.Z, e.g. {DEFAULT})")
    patch = int(match.group(3)) if match.group(3) is not None else LATEST_PATCH
    version = IstioVersion(int(match.group(1)), int(match.group(2)), patch)
    if not IstioVersion(*OLDEST, 0) <= version <= IstioVersion(*NEWEST):
        raise ValueError(
            f"Istio {version} is outside the releases this verifier models "
            f"({IstioVersion(*OLDEST)} to {IstioVersion(*NEWEST)})"
        )
    return version
