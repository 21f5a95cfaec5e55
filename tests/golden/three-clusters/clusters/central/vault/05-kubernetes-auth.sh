#!/usr/bin/env bash
# Step 5: Kubernetes auth for istiod's service account, reviewer mode "secret".
# secret: Vault runs outside and reviews with a long-lived token Secret (kubernetes/token-reviewer.yaml);
# Kubernetes >= 1.24 no longer creates one per service account.
# Rendered by istio-vault-ca; edit the config and re-render rather than this file.
set -euo pipefail
# The shared helpers (lib.sh, beside this file).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STEP=kubernetes-auth
AUTH_MOUNT='kubernetes-central'
ROLE='istiod'
SERVICE_ACCOUNT='istiod'
NAMESPACE='istio-system'
POLICY='istioca-central'
TOKEN_PERIOD='600s'
# K8S_HOST and K8S_CA_CERT_FILE override the API server Vault talks to (and its CA).
CONFIGURED_K8S_HOST='https://api.central.example.com:6443'
K8S_HOST="${K8S_HOST:-$CONFIGURED_K8S_HOST}"
K8S_CA_CERT_FILE="${K8S_CA_CERT_FILE:-}"
# KUBE_CONTEXT overrides the kubectl context the API server's CA and the reviewer token are read from
# (empty: the current context). Every kubectl call names it, and it must point at K8S_HOST.
CONFIGURED_KUBE_CONTEXT=''
KUBE_CONTEXT="${KUBE_CONTEXT:-$CONFIGURED_KUBE_CONTEXT}"
REVIEWER_NAMESPACE='vault'
REVIEWER_SECRET='vault-token-reviewer-token'
# TOKEN_REVIEWER_JWT_FILE overrides reading the reviewer token from the Secret with kubectl.
TOKEN_REVIEWER_JWT_FILE="${TOKEN_REVIEWER_JWT_FILE:-}"

# pin_kube_context: resolves the context once, before any kubectl read, and refuses when its server is not
# K8S_HOST, so this cluster's auth is never configured with another cluster's CA or token (a fleet shell's
# current context may be any cluster's).
pin_kube_context() {
  local server
  command -v kubectl >/dev/null 2>&1 \
    || die "kubectl is needed to read $1: install it, or set K8S_CA_CERT_FILE and TOKEN_REVIEWER_JWT_FILE"
  if [ -z "$KUBE_CONTEXT" ]; then
    KUBE_CONTEXT=$(kubectl config current-context 2>/dev/null) \
      || die "no current kubectl context: set clusters[].kube_context in the config, or KUBE_CONTEXT"
  fi
  server=$(kubectl config view --minify --context "$KUBE_CONTEXT" \
    --output 'jsonpath={.clusters[0].cluster.server}' 2>"$WORKDIR/error.txt") \
    || die "cannot read kubectl context '$KUBE_CONTEXT': $(cat "$WORKDIR/error.txt")"
  if [ "${server%/}" != "${K8S_HOST%/}" ]; then
    die "kubectl context '$KUBE_CONTEXT' points at ${server:-no server}, not this cluster's API server $K8S_HOST: select this cluster's context with KUBE_CONTEXT (or clusters[].kube_context), or fix K8S_HOST (kubernetes_auth.kubernetes_host); nothing was written"
  fi
  say "reading $1 with kubectl context '$KUBE_CONTEXT' (server $server)"
}

require_vault
make_workdir
if [ -z "$K8S_CA_CERT_FILE" ] || [ -z "$TOKEN_REVIEWER_JWT_FILE" ]; then
  pin_kube_context "the API server's CA and the reviewer token"
fi
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
if [ -z "$K8S_CA_CERT_FILE" ]; then
  K8S_CA_CERT_FILE="$WORKDIR/kubernetes-ca.crt"
  kubectl --context "$KUBE_CONTEXT" config view --raw --minify --flatten \
    --output 'jsonpath={.clusters[0].cluster.certificate-authority-data}' | base64 --decode >"$K8S_CA_CERT_FILE"
  [ -s "$K8S_CA_CERT_FILE" ] || die "kubectl context '$KUBE_CONTEXT' has no certificate-authority-data; set K8S_CA_CERT_FILE"
fi
if [ -n "$K8S_CA_CERT_FILE" ]; then
  [ -r "$K8S_CA_CERT_FILE" ] || die "cannot read the Kubernetes CA file $K8S_CA_CERT_FILE"
  config_args+=(kubernetes_ca_cert=@"$K8S_CA_CERT_FILE")
fi
if [ -z "$TOKEN_REVIEWER_JWT_FILE" ]; then
  TOKEN_REVIEWER_JWT_FILE="$WORKDIR/reviewer.jwt"
  (
    umask 077
    kubectl --context "$KUBE_CONTEXT" get secret --namespace "$REVIEWER_NAMESPACE" "$REVIEWER_SECRET" \
      --output 'jsonpath={.data.token}' | base64 --decode >"$TOKEN_REVIEWER_JWT_FILE"
  ) || true
  [ -s "$TOKEN_REVIEWER_JWT_FILE" ] \
    || die "secret $REVIEWER_NAMESPACE/$REVIEWER_SECRET in kubectl context '$KUBE_CONTEXT' has no token: apply kubernetes/token-reviewer.yaml first"
fi
config_args+=(token_reviewer_jwt=@"$TOKEN_REVIEWER_JWT_FILE" disable_local_ca_jwt=true)
quietly write "auth/$AUTH_MOUNT/config" "${config_args[@]}" || die "writing auth/$AUTH_MOUNT/config failed"
say "auth/$AUTH_MOUNT/config points at $K8S_HOST"

quietly write "auth/$AUTH_MOUNT/role/$ROLE" \
  bound_service_account_names="$SERVICE_ACCOUNT" \
  bound_service_account_namespaces="$NAMESPACE" \
  token_policies="$POLICY" \
  token_period="$TOKEN_PERIOD"
say "role $ROLE binds $NAMESPACE/$SERVICE_ACCOUNT to policy $POLICY (token period $TOKEN_PERIOD)"
