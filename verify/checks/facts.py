"""Facts a run saw beside its verdicts: certificate expiries, what istiod's log says it loaded, what was reachable.

Why a side channel: the Prometheus output needs numbers (a not-after timestamp, a run's duration) that a
`CheckResult` deliberately does not carry (its shape is the public JSON contract). The commands gather these
facts from the same values the checks read; the checks themselves stay pure and unchanged. Only the
`prometheus` and `html` reporters read them, so the text, JSON and JUnit outputs are exactly what they were; the
one exception is `config`, the config the run judged against, which every report names (a report that does not
say which file it compared with cannot be trusted: `./istio-vault-ca.yml` beside a built-in default looks alike).

Nothing here holds key material: certificates are reduced to their role, subject and issuer CN, serial, validity
and the type of their public key (the HTML report draws the chain and the expiry timeline from these).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

# Which role the files istiod reads play (docs/how-to/monitoring.md: the `role` label).
ROLE_BY_FILE = {
    "ca-cert.pem": "intermediate",
    "cert-chain.pem": "chain",
    "root-cert.pem": "root",
    # The kubernetes.io/tls layout istiod 1.15+ prefers when tls.crt exists: tls.crt is the CA certificate
    # followed by its chain, ca.crt the roots.
    "tls.crt": "intermediate",
    "ca.crt": "root",
}
# What istiod's log can say about its CA (the `source` label of istio_vault_ca_istiod_ca_source).
CA_SOURCES = ("plugged", "self_signed", "load_failed", "unknown")


class CertificateFact(NamedTuple):
    """One certificate seen: where (`source` files|vault|pod, `target`), which role and position, and when it ends.

    The fields after `not_after` are for the HTML report's diagram and timeline (defaults keep older callers)."""

    role: str
    source: str
    target: str
    cluster: str
    position: int
    subject: str
    not_after: float
    not_before: float = 0.0
    issuer: str = ""
    serial: str = ""
    key_type: str = ""


class IstiodCaFact(NamedTuple):
    """What one istiod pod's log says it loaded (one of CA_SOURCES)."""

    target: str
    cluster: str
    source: str


class FleetExpiryFact(NamedTuple):
    """`verify fleet`: when the cluster's issuing really ends (`effective`, the earliest bound minus the workload
    certificate TTL), which bound that is (`bound`: root|intermediate|issuer, a fixed value for the metric label)
    and its end."""

    cluster: str
    effective: float
    ends: float
    bound: str


class TrustCellFact(NamedTuple):
    """`verify fleet`: one cell of the trust matrix, does a workload in `source` accept a peer of `peer`."""

    source: str
    peer: str
    accepts: bool
    reason: str = ""


class Facts:
    """Everything the run saw beside its results. `clusters` names the config's clusters the run covered.

    A plain class (not a dataclass: see result.py); `reachable` maps a service ("vault", "kubernetes") to whether
    this run reached it, and lacks the services the run did not try. `warn_days` is the warning window the checks
    judged expiry by (the HTML timeline marks it), None when the command has none. `config` is where the config
    came from (a path as given, or "built-in default"), None when the run read no config (`verify chain DIR`).
    `fleet_expiry` and `trust_cells` are `verify fleet`'s figures (empty for every other run)."""

    _FIELDS = (
        "certificates",
        "istiod_ca",
        "reachable",
        "clusters",
        "started",
        "duration",
        "warn_days",
        "config",
        "fleet_expiry",
        "trust_cells",
    )
    __slots__ = _FIELDS

    def __init__(
        self,
        certificates: list[CertificateFact] | None = None,
        istiod_ca: list[IstiodCaFact] | None = None,
        reachable: dict[str, bool] | None = None,
        clusters: tuple[str, ...] = (),
        started: float | None = None,
        duration: float | None = None,
        warn_days: int | None = None,
        config: str | None = None,
        fleet_expiry: list[FleetExpiryFact] | None = None,
        trust_cells: list[TrustCellFact] | None = None,
    ) -> None:
        self.certificates: list[CertificateFact] = certificates if certificates is not None else []
        self.istiod_ca: list[IstiodCaFact] = istiod_ca if istiod_ca is not None else []
        self.reachable: dict[str, bool] = reachable if reachable is not None else {}
        self.clusters = clusters
        self.started = started
        self.duration = duration
        self.warn_days = warn_days
        self.config = config
        self.fleet_expiry: list[FleetExpiryFact] = fleet_expiry if fleet_expiry is not None else []
        self.trust_cells: list[TrustCellFact] = trust_cells if trust_cells is not None else []

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Facts):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Facts(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS) + ")"

    def with_reachable(self, service: str, reachable: bool) -> Facts:
        """A copy with `service`'s reachability set (the other fields shared, as `dataclasses.replace` does)."""
        reachable_now = {**self.reachable, service: reachable}
        return Facts(
            self.certificates,
            self.istiod_ca,
            reachable_now,
            self.clusters,
            self.started,
            self.duration,
            self.warn_days,
            self.config,
            self.fleet_expiry,
            self.trust_cells,
        )

    def add_certificates(
        self, values: Mapping[str, bytes | None], *, source: str, target: str, cluster: str = ""
    ) -> None:
        self.certificates.extend(certificate_facts(values, source=source, target=target, cluster=cluster))


def certificate_facts(
    values: Mapping[str, bytes | None], *, source: str, target: str, cluster: str = ""
) -> list[CertificateFact]:
    """Every certificate in the CA values, by role. Unparsable input yields nothing (the chain checks report it).

    When tls.crt is present istiod reads the tls.* names instead, so only they count; in tls.crt the first
    certificate is the CA certificate and the rest its chain."""
    from cryptography import x509

    names = (
        ("tls.crt", "ca.crt")
        if values.get("tls.crt") is not None
        else ("ca-cert.pem", "cert-chain.pem", "root-cert.pem")
    )
    facts: list[CertificateFact] = []
    for name in names:
        data = values.get(name)
        if not data or b"-----BEGIN CERTIFICATE-----" not in data:
            continue
        try:
            certificates = x509.load_pem_x509_certificates(data)
        except ValueError:
            continue
        if name == "ca-cert.pem":
            certificates = certificates[:1]  # istiod reads only the first block of ca-cert.pem
        for position, certificate in enumerate(certificates):
            role = ROLE_BY_FILE[name]
            if name == "tls.crt" and position > 0:
                role = "chain"
            facts.append(
                CertificateFact(
                    role=role,
                    source=source,
                    target=target,
                    cluster=cluster,
                    position=position,
                    subject=common_name(certificate.subject),
                    not_after=certificate.not_valid_after_utc.timestamp(),
                    not_before=certificate.not_valid_before_utc.timestamp(),
                    issuer=common_name(certificate.issuer),
                    serial=f"{certificate.serial_number:x}",
                    key_type=key_type(certificate),
                )
            )
    return facts


def common_name(name: object) -> str:
    from cryptography import x509

    assert isinstance(name, x509.Name)
    names = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else name.rfc4514_string()


def key_type(certificate: object) -> str:
    """The public key as people name it ("EC P-256", "RSA 4096", "Ed25519"): the public half only."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    assert isinstance(certificate, x509.Certificate)
    try:
        public = certificate.public_key()
    except (ValueError, TypeError):  # an algorithm cryptography does not load: the certificate still has dates
        return "unknown"
    if isinstance(public, rsa.RSAPublicKey):
        return f"RSA {public.key_size}"
    if isinstance(public, ec.EllipticCurvePublicKey):
        curves = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return f"EC {curves.get(public.curve.name, public.curve.name)}"
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(public, ed448.Ed448PublicKey):
        return "Ed448"
    return "unknown"
