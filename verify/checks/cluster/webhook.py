"""The Vault agent injector's webhook: present, seeing istiod's pods, and failing closed.

Without injection istiod's pods start with no CA files and istiod self-signs in silence, so a webhook that cannot
see them, or that lets pods through while it is down (`failurePolicy: Ignore`), is named here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ....generator.config.injectors import by_name
from ..registry import Tier, check
from ..result import CheckResult, failed, passed, warned
from .state import (
    INJECTOR_CONFIG_SUFFIX,
    INJECTOR_WEBHOOKS,
    JSON,
    ClusterState,
    ClusterView,
    dig,
    pod_template,
)


@dataclass(frozen=True)
class InjectorWebhook:
    config_name: str
    webhook: JSON

    @property
    def failure_policy(self) -> str:
        # admissionregistration.k8s.io/v1 defaults failurePolicy to Fail.
        return str(self.webhook.get("failurePolicy") or "Fail")


def injector_webhooks(state: ClusterState) -> list[InjectorWebhook]:
    """The injector's webhook: named vault.hashicorp.com by the Vault chart and by the OpenBao chart for either
    injector (generator/config/injectors.py), or any webhook in a <release>-agent-injector-cfg."""
    found = []
    for config in state.webhooks:
        config_name = str(dig(config, "metadata", "name") or "")
        for webhook in config.get("webhooks") or []:
            if webhook.get("name") in INJECTOR_WEBHOOKS or config_name.endswith(INJECTOR_CONFIG_SUFFIX):
                found.append(InjectorWebhook(config_name, dict(webhook)))
    return found


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes LabelSelector semantics; an empty or absent selector matches everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_expression_matches(e, labels) for e in selector.get("matchExpressions") or [])


def _expression_matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator, values = str(expression.get("key")), expression.get("operator"), expression.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False


def _namespace_labels(state: ClusterState) -> dict[str, str]:
    labels = dict(dig(state.namespace_obj, "metadata", "labels") or {})
    labels.setdefault("kubernetes.io/metadata.name", state.namespace)
    return labels


def excluded_by(webhook: InjectorWebhook, state: ClusterState) -> str:
    """Why the webhook would not see istiod's pods, or '' when it would."""
    if not selector_matches(webhook.webhook.get("namespaceSelector"), _namespace_labels(state)):
        return f"its namespaceSelector does not match namespace {state.namespace}"
    pod_labels = dig(pod_template(state), "metadata", "labels") or {}
    if state.deployment is not None and not selector_matches(webhook.webhook.get("objectSelector"), pod_labels):
        return "its objectSelector does not match istiod's pod labels"
    return ""


@check("cluster.injector-webhook", tier=Tier.SETUP)
def injector_webhook(view: ClusterView) -> CheckResult:
    """The injector's webhook selects istiod's pods; failurePolicy Ignore warns (pods then start uninjected)."""
    state = view.state
    check_id = "cluster.injector-webhook"
    webhooks = injector_webhooks(state)
    if not webhooks:
        return failed(
            check_id,
            "mutatingwebhookconfigurations",
            f"no Vault agent injector webhook (no MutatingWebhookConfiguration with webhook "
            f"{by_name(view.plan.config.vault.injector).webhook}): "
            "istiod pods start without the agent and istiod self-signs",
            "install the Vault Helm chart with the injector enabled (values in vault-helm-values.yaml)",
        )
    webhook = webhooks[0]
    target = f"mutatingwebhookconfiguration/{webhook.config_name}"
    excluded = excluded_by(webhook, state)
    if excluded:
        return failed(
            check_id,
            target,
            f"the injector webhook never sees istiod's pods: {excluded}",
            "fix the webhook's selectors in the Vault Helm values (injector.namespaceSelector/objectSelector)",
        )
    if webhook.failure_policy == "Ignore":
        return warned(
            check_id,
            target,
            "failurePolicy is Ignore: whenever the injector is down or slow, istiod pods are created without "
            "the Vault agent, find no CA files and istiod silently signs with a self-signed CA",
            "set injector.webhook.failurePolicy: Fail in the Vault Helm values (keep the injector's own "
            "namespace out of its namespaceSelector so it can still start)",
        )
    return passed(check_id, target, f"injector webhook present, failurePolicy {webhook.failure_policy}")
