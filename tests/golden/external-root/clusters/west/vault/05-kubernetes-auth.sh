#!/usr/bin/env bash
# Step 5: Kubernetes auth for istiod's service account, reviewer mode "client-jwt".
# client-jwt: Vault runs outside; each client's own JWT reviews itself, so istiod's service account needs
# the system:auth-delegator ClusterRole (kubernetes/istiod-auth-delegator.yaml).
# Rendered by istio-vault-ca; edit the config and re-render rather than this file.
set -euo pipefail

# The environment overrides these defaults from the config.
CONFIGURED_VAULT_CLI='vault'
CONFIGURED_VAULT_ADDR='https://vault.example.com:8200'
VAULT_CLI="${VAULT_CLI:-$CONFIGURED_VAULT_CLI}"
export VAULT_ADDR="${VAULT_ADDR:-$CONFIGURED_VAULT_ADDR}"

say() { printf '[%s] %s\n' "$STEP" "$*"; }
die() { printf '[%s] ERROR: %s\n' "$STEP" "$*" >&2; exit 1; }

# Runs a vault command with its output discarded; shows what it printed on stderr only when it fails.
quietly() {
  local output
  if ! output=$("$VAULT_CLI" "$@" 2>&1 >/dev/null); then
    printf '%s\n' "$output" >&2
    return 1
  fi
}

require_vault() {
  # setup.sh checks once for all its steps and exports the address it checked (each check is two CLI calls).
  if [ -n "${ISTIO_VAULT_CA_CHECKED_ADDR:-}" ] && [ "$ISTIO_VAULT_CA_CHECKED_ADDR" = "$VAULT_ADDR" ]; then
    return 0
  fi
  command -v "$VAULT_CLI" >/dev/null 2>&1 \
    || die "the '$VAULT_CLI' CLI is not on PATH: install it, or set VAULT_CLI to the vault or bao binary"
  local status=0
  "$VAULT_CLI" status >/dev/null 2>&1 || status=$?
  case "$status" in
    0) ;;
    2) die "Vault at $VAULT_ADDR is sealed: unseal it, then re-run" ;;
    *) die "cannot reach Vault at $VAULT_ADDR: set VAULT_ADDR (and VAULT_CACERT for a private CA), then re-run" ;;
  esac
  "$VAULT_CLI" token lookup >/dev/null 2>&1 \
    || die "not authenticated to Vault at $VAULT_ADDR: set VAULT_TOKEN or run '$VAULT_CLI login'"
}

secrets_mount_type() { "$VAULT_CLI" read -field=type "sys/mounts/$1" 2>/dev/null || true; }
auth_mount_type() { "$VAULT_CLI" read -field=type "sys/auth/$1" 2>/dev/null || true; }

# read_mount PATH: MOUNT_TYPE (empty when there is no mount), MOUNT_MAX_TTL (seconds; 0 means the system
# default) and MOUNT_VERSION (KV options.version) from one read, since every CLI call costs a process start.
read_mount() {
  local json
  json=$("$VAULT_CLI" read -format=json "sys/mounts/$1" 2>/dev/null || true)
  MOUNT_PATH="$1"
  MOUNT_TYPE=$(json_value "$json" type)
  MOUNT_MAX_TTL=$(json_value "$json" max_lease_ttl)
  MOUNT_MAX_TTL="${MOUNT_MAX_TTL:-0}"
  # shellcheck disable=SC2034 # read by the step that called us
  MOUNT_VERSION=$(json_value "$json" version)
}

# json_value JSON KEY: the first scalar `"KEY": value` of the CLI's indented JSON, without quotes.
json_value() {
  printf '%s\n' "$1" | sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" | sed -n 1p
}

# ensure_secrets_mount PATH TYPE [ENABLE-FLAGS...]: enable once; an existing mount of another type stops us.
# Leaves read_mount's variables describing PATH.
ensure_secrets_mount() {
  local path="$1" type="$2"
  shift 2
  read_mount "$path"
  # shellcheck disable=SC2034 # read by the step that called us
  MOUNT_ENABLED_NOW=no
  if [ -z "$MOUNT_TYPE" ]; then
    quietly secrets enable -path="$path" "$@" "$type"
    say "enabled the $type secrets engine at $path/"
    # shellcheck disable=SC2034 # read by the step that called us
    MOUNT_TYPE="$type" MOUNT_MAX_TTL=0 MOUNT_VERSION="" MOUNT_ENABLED_NOW=yes
  elif [ "$MOUNT_TYPE" != "$type" ]; then
    die "$path/ is already a '$MOUNT_TYPE' mount, not '$type': pick another mount name in the config"
  else
    say "$path/ is already a $type mount"
  fi
}

# human_ttl SECONDS: Vault's seconds in the config's usual unit (whole hours, else seconds); 0 is Vault's default.
human_ttl() {
  if [ "$1" = 0 ]; then
    printf 'the system default'
  elif [ $(($1 % 3600)) -eq 0 ]; then
    printf '%sh' $(($1 / 3600))
  else
    printf '%ss' "$1"
  fi
}

# ensure_max_ttl PATH SECONDS DURATION [at-least]: set the mount's max lease TTL (or only raise it). Uses what
# read_mount found when it last read PATH, else reads the mount's tune.
ensure_max_ttl() {
  local path="$1" seconds="$2" duration="$3" mode="${4:-exact}" current
  if [ "${MOUNT_PATH:-}" = "$path" ]; then
    current="$MOUNT_MAX_TTL"
  else
    current=$("$VAULT_CLI" read -field=max_lease_ttl "sys/mounts/$path/tune")
  fi
  if [ "$current" = "$seconds" ]; then
    say "$path/ max lease TTL is $duration (unchanged)"
  elif [ "$mode" = at-least ] && [ "$current" -ge "$seconds" ]; then
    say "$path/ max lease TTL is $(human_ttl "$current"), at least $duration (unchanged)"
  else
    quietly secrets tune -max-lease-ttl="$duration" "$path"
    say "$path/ max lease TTL set to $duration (was $(human_ttl "$current"))"
    if [ "${MOUNT_PATH:-}" = "$path" ]; then MOUNT_MAX_TTL="$seconds"; fi
  fi
}

# A private work directory for key material: 0700, removed however the script ends.
make_workdir() {
  WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/istio-vault-ca.XXXXXX")
  chmod 700 "$WORKDIR"
  trap 'rm -rf -- "$WORKDIR"' EXIT
  trap 'exit 130' INT TERM
}
STEP=kubernetes-auth
AUTH_MOUNT='kubernetes-west'
ROLE='istiod'
SERVICE_ACCOUNT='istiod'
NAMESPACE='istio-system'
POLICY='istioca-west'
TOKEN_PERIOD='600s'
# K8S_HOST and K8S_CA_CERT_FILE override the API server Vault talks to (and its CA).
CONFIGURED_K8S_HOST='https://api.west.example.com:6443'
K8S_HOST="${K8S_HOST:-$CONFIGURED_K8S_HOST}"
K8S_CA_CERT_FILE="${K8S_CA_CERT_FILE:-}"
# KUBE_CONTEXT overrides the kubectl context the API server's CA are read from
# (empty: the current context). Every kubectl call names it, and it must point at K8S_HOST.
CONFIGURED_KUBE_CONTEXT=''
KUBE_CONTEXT="${KUBE_CONTEXT:-$CONFIGURED_KUBE_CONTEXT}"

# pin_kube_context: resolves the context once, before any kubectl read, and refuses when its server is not
# K8S_HOST, so this cluster's auth is never configured with another cluster's CA or token (a fleet shell's
# current context may be any cluster's).
pin_kube_context() {
  local server
  command -v kubectl >/dev/null 2>&1 \
    || die "kubectl is needed to read $1: install it, or set K8S_CA_CERT_FILE"
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
[ -n "$K8S_CA_CERT_FILE" ] || pin_kube_context "the API server's CA"
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
config_args+=(disable_local_ca_jwt=true)
quietly write "auth/$AUTH_MOUNT/config" "${config_args[@]}" || die "writing auth/$AUTH_MOUNT/config failed"
say "auth/$AUTH_MOUNT/config points at $K8S_HOST"

quietly write "auth/$AUTH_MOUNT/role/$ROLE" \
  bound_service_account_names="$SERVICE_ACCOUNT" \
  bound_service_account_namespaces="$NAMESPACE" \
  token_policies="$POLICY" \
  token_period="$TOKEN_PERIOD"
say "role $ROLE binds $NAMESPACE/$SERVICE_ACCOUNT to policy $POLICY (token period $TOKEN_PERIOD)"
