"""A real, throw-away Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager.

The three binaries are built from Go modules by ``tests/gobuild.py`` (``tests/e2e/kube``: k8s.io/kubernetes and
go.etcd.io/etcd/server/v3 at the versions its go.mod pins). There is no kubelet and no scheduler: objects are stored,
controllers reconcile them (Deployments get ReplicaSets and Pods, namespaces get their ``default`` ServiceAccount and
the ``kube-root-ca.crt`` ConfigMap), but Pods stay ``Pending`` for ever; tests that need a running Pod patch its
status themselves.

The API server is started much as controller-runtime's envtest starts it (``pkg/internal/testing/controlplane/
apiserver.go``, ``APIServer.defaultArgs``): etcd servers, a cert dir, a secure port on loopback, RBAC, a service IP
range and a service-account issuer with its key pair (TokenRequest and TokenReview work). Unlike envtest it keeps
the ServiceAccount admission plugin, since the controller manager creates the ``default`` ServiceAccounts, and its
serving certificate is signed by a test CA that is also ``--client-ca-file`` and the controller manager's
``--root-ca-file``, so ``kube-root-ca.crt`` holds the CA that really verifies the API server, as on a real cluster.
Identities are client certificates from that CA: ``admin`` (group ``system:masters``), the controller manager
(``system:kube-controller-manager``, bound by the API server's bootstrap RBAC policy) and one unprivileged user.

    python -m tests.e2e.cluster            # builds (or finds) the three binaries and prints their paths
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests import gobuild
from tests.support import wait_until

E2E_DIR = Path(__file__).resolve().parent
KUBE_MODULE = "e2e/kube"  # tests/e2e/kube, relative to tests/ (gobuild.program_dir)
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")
GO_MISSING = gobuild.GO_MISSING_TEMPLATE.format(tier="e2e")

# Inside the cluster the API server is this Service; the issuer and the serving certificate name it, as kubeadm does.
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
LIMITED_USER = "e2e-limited-user"
KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"

START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
# The API server and its controllers act asynchronously: tests wait for what they observe, bounded by this hang
# guard for a loaded two-core machine (never a timing).
API_WAIT = 60.0
T = TypeVar("T")


# ---------------------------------------------------------------------- building


def kubernetes_version() -> str:
    """The k8s.io/kubernetes version tests/e2e/kube/go.mod requires (``v1.34.4``)."""
    go_mod = (gobuild.program_dir(KUBE_MODULE) / "go.mod").read_text()
    match = re.search(r"^\s*k8s\.io/kubernetes\s+(v\d+\.\d+\.\d+\S*)", go_mod, re.MULTILINE)
    if match is None:
        raise gobuild.GoBuildError("tests/e2e/kube/go.mod requires no k8s.io/kubernetes version")
    return match.group(1)


def version_ldflags() -> str:
    """Upstream's release build stamps the version into k8s.io/component-base/version (hack/lib/version.sh,
    ``kube::version::ldflags``); without it ``/version`` says ``v0.0.0-master``. The same stamp, from go.mod."""
    version = kubernetes_version()
    major, minor = version.lstrip("v").split(".")[:2]
    package = "k8s.io/component-base/version"
    stamps = {"gitVersion": version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
    return " ".join(f"-X {package}.{name}={value}" for name, value in stamps.items())


def build_component(name: str) -> Path:
    """The cached binary of one component (``etcd``, ``kube-apiserver``, ``kube-controller-manager``)."""
    if name not in COMPONENTS:
        raise ValueError(f"unknown component {name!r} (one of {', '.join(COMPONENTS)})")
    ldflags = "" if name == "etcd" else version_ldflags()
    return gobuild.build(KUBE_MODULE, f"./cmd/{name}", ldflags=ldflags)


def build_all() -> dict[str, Path]:
    """Built one after the other: a cold kube-apiserver build alone saturates two cores for many minutes."""
    return {name: build_component(name) for name in COMPONENTS}


# ---------------------------------------------------------------------- PKI


@dataclass(frozen=True)
class Identity:
    cert_pem: bytes
    key_pem: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class TestCA:
    """A self-signed CA, made at test time, that signs the API server's serving cert and the clients' certs."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "istio-vault-ca e2e cluster CA")])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        common_name: str,
        organizations: Sequence[str] = (),
        *,
        server: bool = False,
        dns_names: Sequence[str] = (),
        ips: Sequence[str] = (),
    ) -> Identity:
        """A leaf: a client cert (CN = user, O = groups, as the API server's x509 authenticator reads them) or,
        with ``server``, a serving cert for ``dns_names`` and ``ips``."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        if server:
            sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
            sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return Identity(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


# ---------------------------------------------------------------------- processes


def free_port() -> int:
    """A loopback port free right now (the usual small race, as envtest's addr.Suggest has too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` different loopback ports free right now. Each is held bound until all are picked: `free_port()`
    called in a row may hand out one port twice (a process then fails with "bind: address already in use")."""
    with contextlib.ExitStack() as held:
        ports: list[int] = []
        for _ in range(count):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


@dataclass
class Component:
    name: str
    args: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    peak_rss_kib: int | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            # A session of its own: teardown signals exactly this process group, nothing else.
            self.process = subprocess.Popen(
                self.args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exited(self) -> str | None:
        """Why a wait on this component can end at once: it has exited (a ``stop`` for ``wait_until``)."""
        if self.process is None or self.process.poll() is None:
            return None
        return f"{self.name} exited ({self.process.returncode})"

    def sample_peak_rss(self) -> None:
        """VmHWM (peak resident set) from /proc while the process lives; Linux only, else left unknown."""
        if not self.alive() or self.process is None:
            return
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss_kib = int(line.split()[1])

    def stop(self) -> None:
        if self.process is None:
            return
        self.sample_peak_rss()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT)
        # Anything it forked into its group goes too (these Go binaries fork nothing; belt and braces).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def eventually(probe: Callable[[], T | None], what: str, timeout: float = API_WAIT) -> T:
    """``probe`` polled (``tests.support.wait_until``) until the cluster shows what it looks for."""
    return wait_until(probe, timeout, what, interval=0.3)


class ClusterStartError(RuntimeError):
    """A component died or never became ready; the message carries the tail of its log."""


def wait_ready(
    component: Component,
    url: str,
    ok: Callable[[int, str], bool],
    context: Callable[[], ssl.SSLContext | None],
    *,
    timeout: float = START_TIMEOUT,
) -> None:
    """Until ``url`` answers with a status and body ``ok`` accepts; ``ClusterStartError`` (with the last answer or
    error and the component's log tail) if the component exits first or after ``timeout`` seconds."""
    last = ""

    def ready() -> bool:
        nonlocal last
        try:
            with urllib.request.urlopen(url, context=context(), timeout=5) as reply:
                status, body = int(reply.status), reply.read().decode()
            if ok(status, body):
                return True
            last = f"{status} {body}"
        except (urllib.error.URLError, OSError, ValueError) as error:
            last = str(error)
        return False

    wait_until(
        ready,
        timeout,
        f"{component.name} to be ready at {url}",
        interval=0.3,
        stop=component.exited,
        details=lambda: f"last answer: {last}\n{component.log_tail()}",
        error=ClusterStartError,
    )


@dataclass
class Cluster:
    """A running control plane. ``kubeconfig`` is an admin's; ``kubeconfig_for(user)`` makes others."""

    workdir: Path
    binaries: dict[str, Path]
    ca: TestCA = field(default_factory=TestCA)
    components: dict[str, Component] = field(default_factory=dict)
    api_port: int = 0
    etcd_port: int = 0

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "pki" / "ca.crt"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        # The kubeconfigs name the API server's port, so it is picked first.
        self.api_port = free_port()
        pki = self.workdir / "pki"
        pki.mkdir(mode=0o700)
        self._write(pki / "ca.crt", self.ca.cert_pem)
        serving = self.ca.issue(
            "kube-apiserver",
            server=True,
            dns_names=[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ips=["127.0.0.1", KUBERNETES_SERVICE_IP],
        )
        self._write(pki / "apiserver.crt", serving.cert_pem)
        self._write(pki / "apiserver.key", serving.key_pem)
        # The API server's client identity towards kubelets (kubeadm's apiserver-kubelet-client): container logs
        # are proxied to the Node's kubelet endpoint (tests/e2e/kubelet_logs.py stands in for a kubelet).
        kubelet_client = self.ca.issue(KUBELET_CLIENT_USER, ["system:masters"])
        self._write(pki / "apiserver-kubelet-client.crt", kubelet_client.cert_pem)
        self._write(pki / "apiserver-kubelet-client.key", kubelet_client.key_pem)
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._write(pki / "sa.key", _key_pem(sa_key))
        self._write(
            pki / "sa.pub",
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
        self._write_kubeconfig(self.kubeconfig, self.ca.issue("e2e-admin", ["system:masters"]))
        controller_manager_kubeconfig = self.workdir / "controller-manager.kubeconfig"
        self._write_kubeconfig(controller_manager_kubeconfig, self.ca.issue("system:kube-controller-manager"))

        self._start_etcd()
        self._start_apiserver(pki)
        self._start_controller_manager(pki, controller_manager_kubeconfig)

    def stop(self) -> None:
        # Reverse order: clients of the API server first, etcd last.
        for name in reversed(list(self.components)):
            self.components[name].stop()

    def peak_rss_kib(self) -> dict[str, int | None]:
        for component in self.components.values():
            component.sample_peak_rss()
        return {name: component.peak_rss_kib for name, component in self.components.items()}

    # ------------------------------------------------------------------ components

    def _start_etcd(self) -> None:
        data_dir = self.workdir / "etcd"
        data_dir.mkdir(mode=0o700)
        self.etcd_port, peer_port = free_port(), free_port()
        client_url = f"http://127.0.0.1:{self.etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        etcd = self._component(
            "etcd",
            [
                "--name=e2e",
                f"--data-dir={data_dir}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=e2e={peer_url}",
                "--initial-cluster-state=new",
                # As envtest runs it: a test cluster's data need not survive a power cut.
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self._wait_ready(etcd, f"{client_url}/health", lambda _, body: json.loads(body).get("health") == "true")

    def _start_apiserver(self, pki: Path) -> None:
        apiserver = self._component(
            "kube-apiserver",
            [
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.api_port}",
                "--authorization-mode=RBAC",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--service-account-issuer={SA_ISSUER}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--allow-privileged=true",
                # pkg/kubelet/client/kubelet_client.go (v1.34): without a CA the kubelet's serving certificate is
                # not verified (transportConfig sets Insecure); with these flags both sides of the log proxy are.
                f"--kubelet-certificate-authority={pki / 'ca.crt'}",
                f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
                "--profiling=false",
            ],
        )
        self._wait_ready(apiserver, f"{self.server}/readyz", lambda _, body: body.strip() == "ok", authenticated=True)

    def _start_controller_manager(self, pki: Path, kubeconfig: Path) -> None:
        self._component(
            "kube-controller-manager",
            [
                f"--kubeconfig={kubeconfig}",
                "--controllers=*",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                "--use-service-account-credentials=true",
                "--leader-elect=false",
                # No HTTPS endpoint of its own: nothing scrapes it, and it then needs no delegated authn/authz.
                "--secure-port=0",
                "--profiling=false",
            ],
        )
        # Ready when it has done its first visible work: the default namespace's root CA ConfigMap.
        component = self.components["kube-controller-manager"]
        wait_until(
            lambda: self._admin_get("/api/v1/namespaces/default/configmaps/kube-root-ca.crt") is not None,
            START_TIMEOUT,
            "kube-controller-manager to publish kube-root-ca.crt",
            interval=0.3,
            stop=component.exited,
            details=component.log_tail,
            error=ClusterStartError,
        )

    def _component(self, name: str, args: list[str]) -> Component:
        component = Component(name, [str(self.binaries[name]), *args], self.workdir / f"{name}.log")
        self.components[name] = component
        component.start()
        return component

    # ------------------------------------------------------------------ HTTP to the components

    def admin_ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(self.workdir / "admin.crt", self.workdir / "admin.key")
        return context

    def _admin_get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(f"{self.server}{path}", context=self.admin_ssl_context(), timeout=5) as reply:
                return bytes(reply.read())
        except (urllib.error.URLError, OSError):
            return None

    def _wait_ready(
        self, component: Component, url: str, ok: Callable[[int, str], bool], *, authenticated: bool = False
    ) -> None:
        wait_ready(component, url, ok, lambda: self.admin_ssl_context() if authenticated else None)

    # ------------------------------------------------------------------ files

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.write_bytes(data)
        path.chmod(0o600)

    def _write_kubeconfig(self, path: Path, identity: Identity) -> None:
        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode()

        if path == self.kubeconfig:  # also as files, for the admin's own HTTPS calls
            self._write(self.workdir / "admin.crt", identity.cert_pem)
            self._write(self.workdir / "admin.key", identity.key_pem)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "e2e", "cluster": {"server": self.server, "certificate-authority-data": b64(self.ca.cert_pem)}}
            ],
            "users": [
                {
                    "name": "user",
                    "user": {
                        "client-certificate-data": b64(identity.cert_pem),
                        "client-key-data": b64(identity.key_pem),
                    },
                }
            ],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "user"}}],
            "current-context": "e2e",
        }
        # JSON is YAML: kubectl, lightkube and the controller manager all read it.
        self._write(path, json.dumps(config, indent=2).encode())

    def kubeconfig_for(self, user: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig for a client certificate with CN ``user`` and O ``groups`` (no RBAC grants of its own)."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", user)
        path = self.workdir / f"{safe}.kubeconfig"
        self._write_kubeconfig(path, self.ca.issue(user, groups))
        return path


@contextlib.contextmanager
def running_cluster(binaries: dict[str, Path]) -> Iterator[Cluster]:
    """Start the control plane in a fresh 0700 temp dir (mkdtemp), yield it, then stop every process and remove
    the dir, whatever happened."""
    workdir = Path(tempfile.mkdtemp(prefix="ivc-e2e-kube-"))
    cluster = Cluster(workdir=workdir, binaries=binaries)
    try:
        # Ports (nearly) never collide; the ones picked just before a component binds them rarely do.
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str]) -> int:
    if argv:
        print("usage: python -m tests.e2e.cluster   (builds the e2e binaries and prints their paths)", file=sys.stderr)
        return 2
    try:
        for name in COMPONENTS:
            started = time.monotonic()
            path = build_component(name)
            print(f"{name}: {path} ({time.monotonic() - started:.1f}s)", flush=True)
    except gobuild.GoNotInstalledError:
        print(GO_MISSING, file=sys.stderr)
        return 1
    except (gobuild.GoBuildError, FileNotFoundError) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
