"""The collected state of one CA directory (or the four values read from Vault): every file parsed once, the way
istiod parses it, plus what istiod's own load would conclude. Checks are pure functions of this state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from cryptography import x509

from ....generator.config.cafiles import CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT
from ....generator.config.defaults import WARN_DAYS
from . import gox509, pem
from .versions import DEFAULT, IstioVersion

CA_CRL = "ca-crl.pem"
# A `kubernetes.io/tls` Secret's names, which istiod 1.15+ prefers when tls.crt exists
# (pilot/pkg/bootstrap/istio_ca.go detectSigningCABundle; security/pkg/pki/ca/ca.go TLSSecret* constants).
TLS_CERT, TLS_KEY, TLS_CA = "tls.crt", "tls.key", "ca.crt"
# Files a directory may hold beside the four; read when present.
EXTRA_FILES = (CA_CRL, TLS_CERT, TLS_KEY, TLS_CA)
# The default of the mapping fields: read-only, so one empty mapping can be shared by every bundle.
_EMPTY: Mapping[str, str] = MappingProxyType({})


class Bundle(NamedTuple):
    """One target's files as istiod reads them. `None` means missing or unparsable (see the parse problems).

    A NamedTuple, not a dataclass (start-up time: see verify/checks/result.py)."""

    target: str
    labels: Mapping[str, str]
    now: dt.datetime
    warn_days: int
    version: IstioVersion
    values: Mapping[str, bytes | None]
    # Which names istiod reads for each role: the four istio names, or tls.crt/tls.key/ca.crt (1.15+).
    layout: Mapping[str, str]
    tls_layout: bool = False
    ca_cert: x509.Certificate | None = None
    key: pem.GoKey | None = None
    chain: tuple[x509.Certificate, ...] | None = None
    roots: tuple[x509.Certificate, ...] | None = None
    problems: Mapping[str, str] = _EMPTY
    # Files that exist but were not read (not regular, too large): name -> reason (clients/files.py).
    refused: Mapping[str, str] = _EMPTY
    key_mode: int | None = None
    # ca-cert.pem's CRL file when istiod reads one (1.27+, istio file layout only); None otherwise.
    crl: bytes | None = None
    # istiod's own verification of ca-cert.pem (`keycertbundle.go` Verify): the chain found, or Go's error.
    istiod_path: tuple[x509.Certificate, ...] | None = None
    istiod_path_error: str = ""
    # The mesh's data plane (config istiod.data_plane / clusters[].data_plane, or --data-plane): "ambient" adds the
    # checks that judge the files as ztunnel parses istiod's certificate response (ztunnel.py).
    data_plane: str = "sidecar"

    @property
    def ambient(self) -> bool | None:
        """True for an ambient mesh (registry `when`: the ztunnel checks give no result for sidecars)."""
        return True if self.data_plane == "ambient" else None

    @property
    def fleet(self) -> None:
        """None: the fleet check (chain.ztunnel-shared-root) judges several targets, never one bundle."""
        return None

    @property
    def ambient_crl(self) -> bool | None:
        """True for an ambient mesh whose istiod distributes ca-cert.pem's CRL (chain.ztunnel-crl applies)."""
        return True if self.data_plane == "ambient" and self.crl is not None else None

    @property
    def unmodelled_release(self) -> str | None:
        """The Istio release asked for when it is newer than those modelled (chain.istio-release applies)."""
        return str(self.version) if self.version.beyond_model else None

    def label(self, name: str) -> str:
        """How findings name a file: the label given (e.g. the Vault path it came from), else its file name."""
        actual = self.layout.get(name, name)
        return self.labels.get(actual, actual)

    @property
    def from_vault(self) -> bool:
        """True for the values `verify chain --from-vault` read from Vault: only they come with labels (the API
        path of each), so hints talk about Vault paths, not about an agent or a directory."""
        return bool(self.labels)

    def describe(self, field_name: str) -> str:
        """The file behind a state field, for "needs X, which did not load"."""
        return self.label({"ca_cert": CA_CERT, "key": CA_KEY, "chain": CERT_CHAIN, "roots": ROOT_CERT}[field_name])

    @property
    def root(self) -> x509.Certificate | None:
        """The anchor istiod's path ends at, else the first certificate of root-cert.pem."""
        if self.istiod_path and self.roots and self.istiod_path[-1] in self.roots:
            return self.istiod_path[-1]
        return self.roots[0] if self.roots else None

    def name_of(self, cert: x509.Certificate) -> str:
        """Which file (and position) a certificate came from, for findings."""
        if self.ca_cert is not None and cert == self.ca_cert:
            return self.label(CA_CERT)
        if self.roots and cert in self.roots:
            root = self.label(ROOT_CERT)
            return root if len(self.roots) == 1 else f"{root}[{self.roots.index(cert)}]"
        if self.chain and cert in self.chain:
            return f"{self.label(CERT_CHAIN)}[{self.chain.index(cert)}]"
        return common_name(cert)

    @property
    def tls_layout_note(self) -> bool | None:
        """True when istiod reads the tls.* names (registry `when`: no result otherwise)."""
        return True if self.tls_layout else None

    def path(self) -> tuple[x509.Certificate, ...]:
        """istiod's verified path, else ca-cert.pem and each issuer found among the bundle's certificates."""
        if self.istiod_path:
            return self.istiod_path
        if self.ca_cert is None:
            return ()
        pool = [*(self.chain or ()), *(self.roots or ())]
        path = [self.ca_cert]
        while len(path) < gox509.MAX_DEPTH and path[-1] not in (self.roots or ()):
            issuer = next((c for c in pool if c not in path and gox509.issued_by(path[-1], c)), None)
            if issuer is None:
                break
            path.append(issuer)
        return tuple(path)

    def certificates(self) -> list[x509.Certificate]:
        """Every distinct certificate of the bundle, ca-cert.pem first."""
        seen: list[x509.Certificate] = []
        for cert in [*([self.ca_cert] if self.ca_cert else []), *(self.chain or ()), *(self.roots or ())]:
            if cert not in seen:
                seen.append(cert)
        return seen


def common_name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def moment(when: dt.datetime, other: dt.datetime | None = None) -> str:
    """A date; with the time when it would read equal to `other` (the same day), so the order stays visible."""
    if other is not None and when.date() == other.date():
        return when.strftime("%Y-%m-%d %H:%M:%S UTC")
    return when.strftime("%Y-%m-%d")


def collect(
    values: Mapping[str, bytes | None],
    *,
    target: str,
    labels: Mapping[str, str] | None = None,
    warn_days: int = WARN_DAYS,
    now: dt.datetime | None = None,
    version: IstioVersion = DEFAULT,
    key_mode: int | None = None,
    refused: Mapping[str, str] | None = None,
    data_plane: str = "sidecar",
) -> Bundle:
    """Parse each value once, as istiod does, and replay istiod's verification of ca-cert.pem."""
    now = now or dt.datetime.now(dt.timezone.utc)
    tls_layout = version.reads_tls_secret_layout and values.get(TLS_CERT) is not None
    layout = {CA_CERT: TLS_CERT, CA_KEY: TLS_KEY, ROOT_CERT: TLS_CA} if tls_layout else {}
    files = {role: values.get(layout.get(role, role)) for role in (CA_CERT, CA_KEY, ROOT_CERT)}
    if tls_layout:
        # detectSigningCABundle: the chain is tls.crt followed by ca.crt.
        chain_files = [values.get(TLS_CERT), values.get(TLS_CA)]
        files[CERT_CHAIN] = b"".join(part for part in chain_files if part) if any(chain_files) else None
    else:
        files[CERT_CHAIN] = values.get(CERT_CHAIN)
    problems: dict[str, str] = {}
    ca_cert, key, chain, roots = None, None, None, None
    if (ca_data := files[CA_CERT]) is not None:
        ca_cert, problem = pem.first_certificate(ca_data)
        if problem:
            problems[CA_CERT] = problem
    if (key_data := files[CA_KEY]) is not None:
        key, problem = pem.first_key(key_data)
        if problem:
            problems[CA_KEY] = problem
    if (chain_data := files[CERT_CHAIN]) is not None:
        chain = pem.certificates(chain_data)
    if (root_data := files[ROOT_CERT]) is not None:
        roots = pem.certificates(root_data) or None  # nothing that parses: checks needing roots skip, as for ca-cert
        if roots is None:
            problems[ROOT_CERT] = "holds no certificate that parses"
    bundle = Bundle(
        target=target,
        labels=dict(labels or {}),
        now=now,
        warn_days=warn_days,
        version=version,
        values={**values, **files},
        layout=layout,
        tls_layout=tls_layout,
        ca_cert=ca_cert,
        key=key,
        chain=chain,
        roots=roots,
        problems=problems,
        refused=dict(refused or {}),
        key_mode=key_mode,
        crl=values.get(CA_CRL) if version.reads_crl and not tls_layout else None,
        data_plane=data_plane,
    )
    if ca_cert is None or not roots:
        return bundle
    options = gox509.Options(roots=roots, intermediates=chain or (), now=now)
    try:
        path = tuple(gox509.verify(ca_cert, options))
    except gox509.VerifyError as error:
        return bundle._replace(istiod_path_error=str(error))
    return bundle._replace(istiod_path=path)
