#!/usr/bin/env bash
# Step 5: Kubernetes auth for istiod's service account, reviewer mode "local".
# local: Vault runs in the cluster and reviews tokens with its own service account and CA.
# Rendered by istio-vault-ca; edit the config and re-render rather than this file.
set -euo pipefail
# The shared helpers (lib.sh, beside this file).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STEP=kubernetes-auth
AUTH_MOUNT='kubernetes'
ROLE='istiod'
SERVICE_ACCOUNT='istiod-service-account'
NAMESPACE='istio-system'
POLICY='istioca'
TOKEN_PERIOD='600s'
# K8S_HOST and K8S_CA_CERT_FILE override the API server Vault talks to (and its CA).
CONFIGURED_K8S_HOST='https://kubernetes.default.svc'
K8S_HOST="${K8S_HOST:-$CONFIGURED_K8S_HOST}"
K8S_CA_CERT_FILE="${K8S_CA_CERT_FILE:-}"

require_vault
make_workdir
found=$(auth_mount_type "$AUTH_MOUNT")
if [ -z "$found" ]; then
  quietly auth enable -path="$AUTH_MOUNT" kubernetes
  say "enabled Kubernetes auth at auth/$AUTH_MOUNT/"
elif [ "$found" != kubernetes ]; then
  die "auth/$AUTH_MOUNT/ is already a '$found' auth method: pick another clusters[].auth_mount"
else
  say "auth/$AUTH_MOUNT/ is already a Kubernetes auth method"
fi

config_args=(kubernetes_host="$K8S_HOST")
if [ -n "$K8S_CA_CERT_FILE" ]; then
  [ -r "$K8S_CA_CERT_FILE" ] || die "cannot read the Kubernetes CA file $K8S_CA_CERT_FILE"
  config_args+=(kubernetes_ca_cert=@"$K8S_CA_CERT_FILE")
fi
config_args+=(disable_local_ca_jwt=false)
quietly write "auth/$AUTH_MOUNT/config" "${config_args[@]}" \
  || die "writing auth/$AUTH_MOUNT/config failed: reviewer 'local' needs Vault running inside the cluster; outside it, set K8S_HOST and K8S_CA_CERT_FILE"
say "auth/$AUTH_MOUNT/config points at $K8S_HOST"

quietly write "auth/$AUTH_MOUNT/role/$ROLE" \
  bound_service_account_names="$SERVICE_ACCOUNT" \
  bound_service_account_namespaces="$NAMESPACE" \
  token_policies="$POLICY" \
  token_period="$TOKEN_PERIOD"
say "role $ROLE binds $NAMESPACE/$SERVICE_ACCOUNT to policy $POLICY (token period $TOKEN_PERIOD)"
