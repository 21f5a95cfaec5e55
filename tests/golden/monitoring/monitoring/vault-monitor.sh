#!/usr/bin/env bash
# The istio-vault-ca exporter's own Vault policy and role: it reads what `verify vault` reads, never the CA key.
# Run after vault/setup.sh (it needs the Kubernetes auth mount that step 5 enables).
# Rendered by istio-vault-ca; edit the config and re-render rather than this file.
set -euo pipefail

# The environment overrides these defaults from the config.
CONFIGURED_VAULT_CLI='vault'
CONFIGURED_VAULT_ADDR='https://vault.example:8200'
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

# The run's facts. setup.sh runs each step as a process of its own; what one step learned or made (the mounts
# listing setup.sh read as its session check, a mount a step enabled or tuned, the root CA) is kept for the steps
# after it in a private directory setup.sh makes (ISTIO_VAULT_CA_RUN: 0700, removed when setup.sh ends), so no
# step asks Vault again what this run already knows: every CLI call is a process start (~0.1 s). A step run on
# its own has no such directory and asks Vault itself. The facts hold no key material.
#   mounts.json    the secrets mounts, as `read -format=json sys/mounts` printed them before the first step
#   mounts.changed a mount this run enabled or tuned since: PATH TYPE MAX_TTL VERSION CREATED, newest last
#   root-ca.pem    the root CA's certificate, once step 02 has read or generated it

# run_facts: true when this step runs under setup.sh's facts, read from the same Vault and namespace.
run_facts() {
  [ -n "${ISTIO_VAULT_CA_RUN:-}" ] && [ -d "$ISTIO_VAULT_CA_RUN" ] \
    && [ "${ISTIO_VAULT_CA_RUN_FOR:-}" = "$VAULT_ADDR ${VAULT_NAMESPACE:-}" ]
}

require_vault() {
  # setup.sh checks once for all its steps and exports the address it checked.
  if [ -n "${ISTIO_VAULT_CA_CHECKED_ADDR:-}" ] && [ "$ISTIO_VAULT_CA_CHECKED_ADDR" = "$VAULT_ADDR" ]; then
    return 0
  fi
  command -v "$VAULT_CLI" >/dev/null 2>&1 \
    || die "the '$VAULT_CLI' CLI is not on PATH: install it, or set VAULT_CLI to the vault or bao binary"
  # One call when all is well: a token lookup answers only from a reachable, unsealed Vault that knows the
  # token. Only when it fails does `status` (exit 2: sealed) tell the causes apart.
  "$VAULT_CLI" token lookup >/dev/null 2>&1 && return 0
  local status=0
  "$VAULT_CLI" status >/dev/null 2>&1 || status=$?
  case "$status" in
    0) die "not authenticated to Vault at $VAULT_ADDR: set VAULT_TOKEN or run '$VAULT_CLI login'" ;;
    2) die "Vault at $VAULT_ADDR is sealed: unseal it, then re-run" ;;
    *) die "cannot reach Vault at $VAULT_ADDR: set VAULT_ADDR (and VAULT_CACERT for a private CA), then re-run" ;;
  esac
}

# start_run: setup.sh's session check and the run's facts. One CLI call, the secrets mounts listing, answers
# only from a reachable, unsealed Vault that knows the token, and the steps read their mounts from it. When it
# fails, require_vault says why (a token that may not list sys/mounts still runs: each step then asks itself).
start_run() {
  command -v "$VAULT_CLI" >/dev/null 2>&1 \
    || die "the '$VAULT_CLI' CLI is not on PATH: install it, or set VAULT_CLI to the vault or bao binary"
  ISTIO_VAULT_CA_RUN=$(mktemp -d "${TMPDIR:-/tmp}/istio-vault-ca-run.XXXXXX")
  chmod 700 "$ISTIO_VAULT_CA_RUN"
  trap 'rm -rf -- "$ISTIO_VAULT_CA_RUN"' EXIT
  trap 'exit 130' INT TERM
  if ! "$VAULT_CLI" read -format=json sys/mounts >"$ISTIO_VAULT_CA_RUN/mounts.json" 2>/dev/null; then
    rm -f -- "$ISTIO_VAULT_CA_RUN/mounts.json"
    require_vault
  fi
  export ISTIO_VAULT_CA_RUN ISTIO_VAULT_CA_RUN_FOR="$VAULT_ADDR ${VAULT_NAMESPACE:-}"
  export ISTIO_VAULT_CA_CHECKED_ADDR="$VAULT_ADDR"
}

secrets_mount_type() { "$VAULT_CLI" read -field=type "sys/mounts/$1" 2>/dev/null || true; }
auth_mount_type() { "$VAULT_CLI" read -field=type "sys/auth/$1" 2>/dev/null || true; }

# read_mount PATH: MOUNT_TYPE (empty when there is no mount), MOUNT_MAX_TTL (seconds; 0 means the system
# default), MOUNT_VERSION (KV options.version) and MOUNT_CREATED (yes: a step of this run enabled it) from one
# read, since every CLI call costs a process start. It asks Vault only when neither this run's facts nor
# MOUNTS_JSON (read_mounts) know the mount.
read_mount() {
  local json line
  MOUNT_PATH="$1"
  # shellcheck disable=SC2034 # read by the step that called us
  MOUNT_CREATED=no
  if run_facts && [ -f "$ISTIO_VAULT_CA_RUN/mounts.changed" ]; then
    line=$(awk -v path="$1" '$1 == path { line = $0 } END { print line }' "$ISTIO_VAULT_CA_RUN/mounts.changed")
    if [ -n "$line" ]; then
      # shellcheck disable=SC2034 # read by the step that called us
      read -r _ MOUNT_TYPE MOUNT_MAX_TTL MOUNT_VERSION MOUNT_CREATED <<<"$line"
      MOUNT_VERSION="${MOUNT_VERSION#-}"
      return 0
    fi
  fi
  if [ -z "${MOUNTS_JSON:-}" ] && run_facts && [ -s "$ISTIO_VAULT_CA_RUN/mounts.json" ]; then
    MOUNTS_JSON=$(cat -- "$ISTIO_VAULT_CA_RUN/mounts.json")
  fi
  if [ -n "${MOUNTS_JSON:-}" ]; then
    # The CLI's listing indents each mount's key by 4 spaces and closes its object at the same indent. awk reads
    # to the end rather than exit at the match: under pipefail, printf writing into a closed pipe (a listing
    # longer than one write) would fail the step with SIGPIPE (exit 141).
    json=$(printf '%s\n' "$MOUNTS_JSON" | awk -v key="    \"$1/\": {" '$0 == key && !done { on = 1; next } on && /^    }/ { on = 0; done = 1 } on')
  else
    json=$("$VAULT_CLI" read -format=json "sys/mounts/$1" 2>/dev/null || true)
  fi
  MOUNT_TYPE=$(json_value "$json" type)
  MOUNT_MAX_TTL=$(json_value "$json" max_lease_ttl)
  MOUNT_MAX_TTL="${MOUNT_MAX_TTL:-0}"
  # shellcheck disable=SC2034 # read by the step that called us
  MOUNT_VERSION=$(json_value "$json" version)
}

# remember_mount: what read_mount's variables now say of MOUNT_PATH (a step just enabled or tuned it), for the
# steps after this one.
remember_mount() {
  if run_facts; then
    printf '%s %s %s %s %s\n' "$MOUNT_PATH" "$MOUNT_TYPE" "$MOUNT_MAX_TTL" "${MOUNT_VERSION:--}" "$MOUNT_CREATED" \
      >>"$ISTIO_VAULT_CA_RUN/mounts.changed"
  fi
}

# read_mounts: every secrets mount in one CLI call, for a step that looks at several (unless this run read them
# already); read_mount then uses it. A step that enables a mount updates what read_mount reports for it
# (ensure_secrets_mount).
read_mounts() {
  if run_facts && [ -s "$ISTIO_VAULT_CA_RUN/mounts.json" ]; then
    MOUNTS_JSON=$(cat -- "$ISTIO_VAULT_CA_RUN/mounts.json")
    return 0
  fi
  MOUNTS_JSON=$("$VAULT_CLI" read -format=json sys/mounts 2>/dev/null) \
    || die "cannot list the secrets engines at $VAULT_ADDR (sys/mounts): the token needs read on sys/mounts"
}

# root_ca_cert: the root CA's certificate in $ROOT_MOUNT (fails when it has none): this run's copy once step 02
# has read or generated it, else Vault's.
root_ca_cert() {
  if run_facts && [ -s "$ISTIO_VAULT_CA_RUN/root-ca.pem" ]; then
    cat -- "$ISTIO_VAULT_CA_RUN/root-ca.pem"
  else
    "$VAULT_CLI" read -field=certificate "$ROOT_MOUNT/cert/ca" 2>/dev/null
  fi
}

# remember_root_ca PEM: the root CA's certificate, for the steps after this one.
remember_root_ca() {
  if run_facts; then printf '%s\n' "$1" >"$ISTIO_VAULT_CA_RUN/root-ca.pem"; fi
}

# json_value JSON KEY: the first scalar `"KEY": value` of the CLI's indented JSON, without quotes.
json_value() {
  printf '%s\n' "$1" | sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" | sed -n 1p
}

# ensure_secrets_mount PATH TYPE [ENABLE-FLAGS...]: enable once; an existing mount of another type stops us.
# Leaves read_mount's variables describing PATH, and MOUNT_ENABLED_NOW=yes when this call created it (a new
# mount holds nothing, so the caller need not ask Vault what is in it).
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
    MOUNT_TYPE="$type" MOUNT_MAX_TTL=0 MOUNT_VERSION="" MOUNT_ENABLED_NOW=yes MOUNT_CREATED=yes
    local flag
    for flag in "$@"; do
      case "$flag" in -version=*) MOUNT_VERSION="${flag#-version=}" ;; esac
    done
    remember_mount
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
    if [ "${MOUNT_PATH:-}" = "$path" ]; then
      MOUNT_MAX_TTL="$seconds"
      remember_mount
    fi
  fi
}

# ensure_mount_max_ttl PATH TYPE SECONDS DURATION [at-least]: ensure_secrets_mount, then ensure_max_ttl; a new
# mount is enabled with the max lease TTL already set, saving the tune call.
ensure_mount_max_ttl() {
  local path="$1" type="$2" seconds="$3" duration="$4" mode="${5:-exact}"
  read_mount "$path"
  if [ -z "$MOUNT_TYPE" ]; then
    quietly secrets enable -path="$path" -max-lease-ttl="$duration" "$type"
    say "enabled the $type secrets engine at $path/ with max lease TTL $duration"
    # shellcheck disable=SC2034 # read by the step that called us
    MOUNT_TYPE="$type" MOUNT_MAX_TTL="$seconds" MOUNT_VERSION="" MOUNT_ENABLED_NOW=yes MOUNT_CREATED=yes
    remember_mount
  elif [ "$MOUNT_TYPE" != "$type" ]; then
    die "$path/ is already a '$MOUNT_TYPE' mount, not '$type': pick another mount name in the config"
  else
    # shellcheck disable=SC2034 # read by the step that called us
    MOUNT_ENABLED_NOW=no
    say "$path/ is already a $type mount"
    ensure_max_ttl "$path" "$seconds" "$duration" "$mode"
  fi
}

# A private work directory for key material: 0700, removed however the script ends.
make_workdir() {
  WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/istio-vault-ca.XXXXXX")
  chmod 700 "$WORKDIR"
  trap 'rm -rf -- "$WORKDIR"' EXIT
  trap 'exit 130' INT TERM
}
STEP=monitoring
AUTH_MOUNT='kubernetes'
ROLE='istiod-monitor'
POLICY='istioca-monitor'
SERVICE_ACCOUNT='istio-vault-ca-exporter'
NAMESPACE='istio-system'
TOKEN_PERIOD='600s'
POLICY_FILE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/vault-policy.hcl"

require_vault
[ -r "$POLICY_FILE" ] || die "cannot read $POLICY_FILE (it is rendered beside this script)"
current=$("$VAULT_CLI" policy read "$POLICY" 2>/dev/null || true)
if [ "$current" = "$(cat "$POLICY_FILE")" ]; then
  say "policy $POLICY is already up to date"
else
  quietly policy write "$POLICY" "$POLICY_FILE"
  say "wrote policy $POLICY from vault-policy.hcl"
fi
quietly write "auth/$AUTH_MOUNT/role/$ROLE" \
  bound_service_account_names="$SERVICE_ACCOUNT" \
  bound_service_account_namespaces="$NAMESPACE" \
  token_policies="$POLICY" \
  token_period="$TOKEN_PERIOD"
say "role $ROLE binds $NAMESPACE/$SERVICE_ACCOUNT to policy $POLICY"
