"""The real istiod of the e2e tier: ``pilot-discovery`` built from the pinned istio.io/istio, run as the Pod's process.

``tests/e2e/istiod`` is a Go module requiring istio.io/istio at the revision tests/oracles/istio_ca pins; its
``cmd/pilot-discovery`` and ``cmd/pilot-agent`` are upstream's two commands (built by tests/gobuild.py, cached
outside the repository). ``running_istiod`` starts ``pilot-discovery`` for one istiod Pod the API server holds, as a
kubelet would start its ``discovery`` container: the container's ``args`` and ``env`` (``fieldRef`` values resolved
from the Pod), with only what cannot exist outside a Pod moved (listen addresses on free loopback ports, the API
server through ``--kubeconfig``, which the chart's remote-kubeconfig mount also gives istiod). Its stdout and stderr
go to one file, as a container runtime keeps them, and the log-only kubelet stand-in serves that file through the
real API server's ``pods/log`` (``KubeletLogs.serve_file``), so what ``verify cluster`` reads is istiod's own output.

Paths: there is no container mount namespace, so the tests give the config a ``ca_dir`` on this machine (a temp
directory): ROOT_CA_DIR, the injector's ``secret-volume-path`` and the real agent's template destinations all name
that one directory, and the path istiod logs (``Use root cert from <ca_dir>/root-cert.pem``) is the Pod's path.

Scope: the mesh config's ``discoverySelectors`` match only namespaces labelled ``SELECTOR_LABEL`` with this
istiod's own namespace as value, so its namespace controller (pilot/pkg/serviceregistry/kube/controller/
namespacecontroller.go ``NewNamespaceController``: configmaps and namespaces filtered by ``kubeClient.ObjectFilter()``)
writes ``istio-ca-root-cert`` only where a test asked for it, never into the other tests' namespaces of the shared
cluster.

    python -m tests.e2e.real_istiod        # builds (or finds) pilot-discovery and pilot-agent, prints their paths
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests import gobuild
from tests.e2e.cluster import Cluster, free_ports
from tests.support import wait_until

ISTIOD_MODULE = "e2e/istiod"  # tests/e2e/istiod, relative to tests/ (gobuild.program_dir)
DISCOVERY_PACKAGE = "./cmd/pilot-discovery"
AGENT_PACKAGE = "./cmd/pilot-agent"
CONTAINER = "discovery"
SELECTOR_LABEL = "istio-vault-ca.test/real-istiod"
# A loaded 2-core machine: istiod starts in about a second when idle; the bound is for the worst case, the polls
# return as soon as the condition holds.
WAIT = 120.0
POLL = 0.2
JSON = dict[str, Any]
T = TypeVar("T")


def build_discovery() -> Path:
    return gobuild.build(ISTIOD_MODULE, DISCOVERY_PACKAGE)


def build_agent() -> Path:
    return gobuild.build(ISTIOD_MODULE, AGENT_PACKAGE)


def istio_version() -> str:
    """The istio.io/istio version tests/e2e/istiod/go.mod requires."""
    go_mod = (gobuild.program_dir(ISTIOD_MODULE) / "go.mod").read_text()
    match = re.search(r"^\s*istio\.io/istio\s+(v\S+)", go_mod, re.MULTILINE)
    if match is None:
        raise gobuild.GoBuildError("tests/e2e/istiod/go.mod requires no istio.io/istio version")
    return match.group(1)


def mesh_config(namespace: str) -> str:
    """Mesh config limiting istiod to namespaces labelled for it (YAML, as the chart's ``istio`` ConfigMap)."""
    return (
        "trustDomain: cluster.local\n"
        "rootNamespace: " + namespace + "\n"
        "discoverySelectors:\n"
        "- matchLabels:\n"
        f"    {SELECTOR_LABEL}: {namespace}\n"
    )


def _field(pod: Mapping[str, Any], path: str) -> str:
    value: Any = pod
    for part in path.split("."):
        value = value.get(part, {}) if isinstance(value, Mapping) else {}
    return value if isinstance(value, str) else ""


def container_env(pod: Mapping[str, Any], container: str = CONTAINER) -> dict[str, str]:
    """The container's environment as a kubelet sets it: literal values, and ``fieldRef`` values from the Pod."""
    (spec,) = [c for c in pod["spec"]["containers"] if c["name"] == container]
    env: dict[str, str] = {}
    for variable in spec.get("env") or []:
        if "value" in variable:
            env[variable["name"]] = str(variable["value"])
        elif "fieldRef" in (variable.get("valueFrom") or {}):
            env[variable["name"]] = _field(pod, variable["valueFrom"]["fieldRef"]["fieldPath"])
    return env


def container_args(pod: Mapping[str, Any], container: str = CONTAINER) -> list[str]:
    (spec,) = [c for c in pod["spec"]["containers"] if c["name"] == container]
    return [str(arg) for arg in spec.get("args") or []]


@dataclass
class RealIstiod:
    """One running ``pilot-discovery``; ``log`` is its combined stdout and stderr."""

    process: subprocess.Popen[bytes]
    log: Path
    grpc_address: str  # the CA's gRPC port (secureGRPCAddr, 15012 in a Pod)
    env: dict[str, str]

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def exit_code(self) -> int | None:
        return self.process.poll()

    def exited(self) -> str | None:
        """Why a wait on istiod can end at once: it has exited (a ``stop`` for ``tests.support.wait_until``)."""
        code = self.process.poll()
        return None if code is None else f"istiod exited ({code})"

    def log_tail(self) -> str:
        return f"istiod's log ends:\n{tail(self.text())}"

    def wait_for(self, probe: Callable[[], T | None], what: str) -> T:
        """``probe`` polled until it holds, bounded by ``WAIT``; an istiod that has exited ends the wait at once
        (after one last probe), and either failure shows istiod's log's tail."""
        return wait_until(probe, WAIT, what, interval=POLL, stop=self.exited, details=self.log_tail)

    def wait_for_log(self, pattern: str, what: str) -> re.Match[str]:
        """The first match of ``pattern`` in the log, polled until it appears; fails at once if istiod exited
        without it (its log says why), or after ``WAIT`` seconds."""
        compiled = re.compile(pattern)
        return self.wait_for(lambda: compiled.search(self.text()), what)

    def wait_for_count(self, pattern: str, count: int, what: str) -> None:
        """Until the log holds ``count`` matches of ``pattern`` (the n-th reload of a running istiod)."""
        compiled = re.compile(pattern)
        self.wait_for(lambda: len(compiled.findall(self.text())) >= count, what)

    def wait_for_exit(self, what: str) -> int:
        """istiod's exit code, once it has exited (its log's tail in the failure if it does not)."""
        wait_until(lambda: self.process.poll() is not None, WAIT, what, interval=POLL, details=self.log_tail)
        return self.process.returncode

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def running_istiod(
    binary: Path,
    cluster: Cluster,
    pod: Mapping[str, Any],
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
) -> Iterator[RealIstiod]:
    """``pilot-discovery`` as the ``discovery`` container of ``pod`` (see the module docstring); stopped on exit."""
    namespace = pod["metadata"]["namespace"]
    workdir.mkdir(parents=True, exist_ok=True)
    mesh = workdir / "mesh.yaml"
    mesh.write_text(mesh_config(namespace), encoding="utf-8")
    http, https, plain_grpc, secure_grpc, monitoring, ctrlz = free_ports(6)
    grpc = f"127.0.0.1:{secure_grpc}"
    overrides = [
        f"--kubeconfig={cluster.kubeconfig}",
        f"--meshConfig={mesh}",
        f"--networksConfig={workdir / 'meshNetworks'}",
        f"--httpAddr=127.0.0.1:{http}",
        f"--httpsAddr=127.0.0.1:{https}",
        f"--grpcAddr=127.0.0.1:{plain_grpc}",
        f"--secureGRPCAddr={grpc}",
        f"--monitoringAddr=127.0.0.1:{monitoring}",
        "--ctrlz_address=127.0.0.1",
        f"--ctrlz_port={ctrlz}",
        "--shutdownDuration=1s",
    ]
    process_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        **container_env(pod),
        # The chart's remote-kubeconfig mount path means nothing here; --kubeconfig names the API server.
        "KUBECONFIG": str(cluster.kubeconfig),
        **(env or {}),
    }
    log = workdir / "discovery.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), *container_args(pod), *overrides],
            cwd=workdir,
            env=process_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    istiod = RealIstiod(process, log, grpc, process_env)
    try:
        yield istiod
    finally:
        istiod.stop()


def main(argv: Sequence[str]) -> int:
    """Build both binaries one after the other (each keeps two cores busy for minutes when cold)."""
    if argv:
        print("usage: python -m tests.e2e.real_istiod", file=sys.stderr)
        return 2
    try:
        for name, build in (("pilot-discovery", build_discovery), ("pilot-agent", build_agent)):
            started = time.monotonic()
            path = build()
            print(f"{name}: {path} ({time.monotonic() - started:.1f}s)")
    except (gobuild.GoNotInstalledError, gobuild.GoBuildError) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def workload_certificate(
    binary: Path,
    istiod: RealIstiod,
    *,
    namespace: str,
    service_account: str,
    token: str,
    root_pem: str,
    workdir: Path,
) -> str:
    """The certificate chain a real ``pilot-agent`` (Istio's sidecar agent, without Envoy) gets from ``istiod`` for
    ``service_account`` by presenting ``token`` (a TokenRequest token for audience ``istio-ca``), as a sidecar's
    first CSR; returns the PEM chain it wrote (leaf first), never the key.

    The agent's paths are the Pod's, relative to its working directory (pkg/config/constants/constants.go
    ``ThirdPartyJwtPath`` ``./var/run/secrets/tokens/istio-token``; pkg/istio-agent/agent.go ``FindRootCAForCA``
    ``./var/run/secrets/istio/root-cert.pem``, the mounted istio-ca-root-cert ConfigMap); ``OUTPUT_CERTS`` makes it
    write what it got (pilot/cmd/pilot-agent/options/options.go); ``DISABLE_ENVOY`` runs it proxyless, fetching the
    workload certificate at start (agent.go ``Run``). The CA is reached at the discovery address (no ``CA_ADDR``), the
    one case where ``ISTIOD_SAN`` also names the CA's serving certificate (pilot/cmd/pilot-agent/options/security.go
    ``SetupSecurityOptions``), needed since the address is a loopback IP and istiod's certificate names
    ``istiod.<namespace>.svc``."""
    workdir.mkdir(parents=True, exist_ok=True)
    tokens = workdir / "var" / "run" / "secrets" / "tokens"
    roots = workdir / "var" / "run" / "secrets" / "istio"
    for directory in (tokens, roots):
        directory.mkdir(parents=True, exist_ok=True)
    (tokens / "istio-token").write_text(token, encoding="utf-8")
    (roots / "root-cert.pem").write_text(root_pem, encoding="utf-8")
    out = workdir / "output-certs"
    out.mkdir(mode=0o700)
    istiod_namespace = istiod.env["POD_NAMESPACE"]
    status_port, admin_port = free_ports(2)
    proxy_config = {
        "discoveryAddress": istiod.grpc_address,
        "statusPort": status_port,
        "proxyAdminPort": admin_port,
    }
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "POD_NAME": f"{service_account}-0",
        "POD_NAMESPACE": namespace,
        "SERVICE_ACCOUNT": service_account,
        "INSTANCE_IP": "127.0.0.1",
        "ISTIO_META_CLUSTER_ID": "Kubernetes",
        "ISTIOD_SAN": f"istiod.{istiod_namespace}.svc",
        "PILOT_CERT_PROVIDER": "istiod",
        "DISABLE_ENVOY": "true",
        "OUTPUT_CERTS": str(out),
        "PROXY_CONFIG": json.dumps(proxy_config),
    }
    log = workdir / "pilot-agent.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(binary), "proxy", "sidecar"],
            cwd=workdir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    chain = out / "cert-chain.pem"
    try:
        wait_until(
            lambda: chain.is_file() and chain.stat().st_size > 0,
            WAIT,
            "pilot-agent's workload certificate",
            interval=POLL,
            stop=lambda: None if process.poll() is None else f"pilot-agent exited ({process.returncode})",
            details=lambda: "pilot-agent's log ends:\n" + tail(log.read_text(encoding="utf-8", errors="replace")),
        )
        return chain.read_text(encoding="utf-8")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
