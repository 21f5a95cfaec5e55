#!/usr/bin/env bash
# Vault CA for istiod, cluster default: runs every step in order. Safe to re-run: each step checks what exists and changes only
# what differs; no step ever replaces an existing CA or stored key.
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

# ensure_secrets_mount PATH TYPE [ENABLE-FLAGS...]: enable once; an existing mount of another type stops us.
ensure_secrets_mount() {
  local path="$1" type="$2" found
  shift 2
  found=$(secrets_mount_type "$path")
  if [ -z "$found" ]; then
    quietly secrets enable -path="$path" "$@" "$type"
    say "enabled the $type secrets engine at $path/"
  elif [ "$found" != "$type" ]; then
    die "$path/ is already a '$found' mount, not '$type': pick another mount name in the config"
  else
    say "$path/ is already a $type mount"
  fi
}

# ensure_max_ttl PATH SECONDS DURATION [at-least]: set the mount's max lease TTL (or only raise it).
ensure_max_ttl() {
  local path="$1" seconds="$2" duration="$3" mode="${4:-exact}" current
  current=$("$VAULT_CLI" read -field=max_lease_ttl "sys/mounts/$path/tune")
  if [ "$current" = "$seconds" ] || { [ "$mode" = at-least ] && [ "$current" -ge "$seconds" ]; }; then
    say "$path/ max lease TTL is ${current}s (unchanged)"
  else
    quietly secrets tune -max-lease-ttl="$duration" "$path"
    say "$path/ max lease TTL set to $duration (was ${current}s)"
  fi
}

# A private work directory for key material: 0700, removed however the script ends.
make_workdir() {
  WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/istio-vault-ca.XXXXXX")
  chmod 700 "$WORKDIR"
  trap 'rm -rf -- "$WORKDIR"' EXIT
  trap 'exit 130' INT TERM
}
STEP=setup
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
require_vault
export ISTIO_VAULT_CA_CHECKED_ADDR="$VAULT_ADDR"
bash "$here/01-audit.sh"
bash "$here/02-root-pki.sh"
bash "$here/03-kv.sh"
bash "$here/04-intermediate-pki.sh"
bash "$here/05-kubernetes-auth.sh"
bash "$here/06-policy.sh"
printf '[setup] done: Vault CA for istiod, cluster default\n'
