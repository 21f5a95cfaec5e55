"""`monitoring:` in the config: the opt-in in-cluster exporter (`serve`) and its alerts.

Why opt-in and separate: most users run `verify` once after a deploy; the exporter adds a Deployment (or CronJob),
RBAC, a Vault role and Prometheus Operator objects they must review, so nothing is rendered unless asked, and
`out/` for the default config stays exactly what it was. Field names are a public contract, like the rest.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from .defaults import WARN_DAYS
from .durations import parse_duration

# An image reference: [registry/]path[:tag][@digest]; no spaces or shell characters.
IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:-]*(@sha256:[a-f0-9]{64})?$")
LABEL_KEY = re.compile(r"^([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
CRON = re.compile(r"^(\S+\s+){4}\S+$")


def _image(value: str | None) -> str | None:
    if value is not None and (len(value) > 512 or not IMAGE.match(value)):
        raise ValueError(f"{value!r} is not an image reference like registry.example/istio-vault-ca:0.1.0")
    return value


def _duration(value: str) -> str:
    if parse_duration(value) < 10:
        raise ValueError(f"{value!r} is shorter than 10s: each run makes about fifteen requests to Vault")
    return value


def _labels(value: dict[str, str]) -> dict[str, str]:
    bad = [key for key in value if not LABEL_KEY.match(key) or len(key) > 253]
    if bad:
        raise ValueError(f"not a Kubernetes label key: {', '.join(map(repr, bad))}")
    return value


def _schedule(value: str) -> str:
    if not CRON.match(value):
        raise ValueError(f"{value!r} is not a five-field cron schedule, e.g. '*/15 * * * *'")
    return value


class Alerts(BaseModel):
    """Thresholds of the rendered PrometheusRule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expiry_warning_days: int = Field(
        WARN_DAYS,
        ge=1,
        le=3650,
        description="days before a CA certificate's end that IstioVaultCaCertificateExpiring fires",
    )
    expiry_critical_days: int = Field(
        7, ge=1, le=3650, description="days before its end that IstioVaultCaCertificateExpiryCritical fires"
    )
    failing_for: Annotated[str, AfterValidator(_duration)] = Field(
        "15m", description="how long a check fails or errors before IstioVaultCaCheckFailing fires (duration)"
    )


class Monitoring(BaseModel):
    """The exporter in the cluster: `deployment` (serve, scraped through a ServiceMonitor) or `cronjob` (verify
    pushed to a Pushgateway). `target` is what it checks, as `verify` takes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="render monitoring/ (exporter, RBAC, Vault role, alerts, dashboard)")
    image: Annotated[str | None, AfterValidator(_image)] = Field(
        None, description="the exporter's image, required when enabled: none is published (build it from a checkout)"
    )
    mode: Literal["deployment", "cronjob"] = Field(
        "deployment", description="deployment: `serve`, scraped; cronjob: `verify` pushed to a Pushgateway"
    )
    target: Literal["all", "vault", "cluster"] = Field("all", description="what it checks, as `verify` takes it")
    name: str = Field(
        "istio-vault-ca-exporter",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=52,
        description="name of its Deployment or CronJob, service account, ConfigMap and Service",
    )
    interval: Annotated[str, AfterValidator(_duration)] = Field(
        "5m", description="deployment: time between runs (duration, at least 10s)"
    )
    schedule: Annotated[str, AfterValidator(_schedule)] = Field(
        "*/15 * * * *", description="cronjob: when it runs (five-field cron)"
    )
    port: int = Field(9402, ge=1024, le=65535, description="deployment: the port serving /metrics and /healthz")
    pushgateway_url: str | None = Field(
        None, pattern=r"^https?://[^\s'\"]+$", max_length=512, description="cronjob (required): where it pushes"
    )
    pod_files: bool = Field(
        True, description="grant pods/exec, so the pod.* checks read istiod's CA files inside its pod"
    )
    prometheus_labels: Annotated[dict[str, str], AfterValidator(_labels)] = Field(
        default_factory=dict,
        description="labels your Prometheus Operator selects ServiceMonitors and PrometheusRules by",
    )
    alerts: Alerts = Field(Alerts(), description="thresholds of the rendered PrometheusRule")


def monitoring_problems(monitoring: Monitoring) -> list[tuple[tuple[str, ...], str]]:
    """Rules across the fields of `monitoring`, each at the field a person should change."""
    if not monitoring.enabled:
        return []
    problems: list[tuple[tuple[str, ...], str]] = []
    if monitoring.image is None:
        problems.append(
            (
                ("monitoring", "image"),
                "monitoring.enabled needs the exporter's image (we publish none: docs/how-to/monitoring.md shows "
                "a Dockerfile)",
            )
        )
    if monitoring.mode == "cronjob" and monitoring.pushgateway_url is None:
        problems.append(
            (("monitoring", "pushgateway_url"), "mode cronjob pushes its metrics: give the Pushgateway's URL")
        )
    if monitoring.alerts.expiry_critical_days >= monitoring.alerts.expiry_warning_days:
        problems.append(
            (("monitoring", "alerts", "expiry_critical_days"), "must be fewer days than expiry_warning_days")
        )
    return problems
