#!/usr/bin/env bash
# Step 1: a file audit device, so every request (including reads of the CA key) is logged.
# The log file is a path on the Vault server (vault.audit.file_path). Against a Vault running on this machine
# (a dev server) that path is on your host: point it elsewhere with AUDIT_FILE_PATH=/tmp/vault-audit.log, or set
# vault.audit.file_path (or vault.audit.enabled: false) in the config.
# Rendered by istio-vault-ca; edit the config and re-render rather than this file.
set -euo pipefail
# The shared helpers (lib.sh, beside this file).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STEP=audit
AUDIT_PATH='file'
# AUDIT_FILE_PATH overrides the configured file (a path on the Vault server).
CONFIGURED_AUDIT_FILE='/vault/vault-audit.log'
AUDIT_FILE="${AUDIT_FILE_PATH:-$CONFIGURED_AUDIT_FILE}"

require_vault
existing=$("$VAULT_CLI" audit list -detailed 2>/dev/null | awk -v path="$AUDIT_PATH/" '$1 == path' || true)
if [ -z "$existing" ]; then
  if ! output=$("$VAULT_CLI" audit enable -path="$AUDIT_PATH" file file_path="$AUDIT_FILE" 2>&1 >/dev/null); then
    case "$output" in
      *declarative*) die "this server (OpenBao 2.x) refuses audit devices over the API: declare it in the server's config, audit \"file\" \"$AUDIT_PATH\" { options { file_path = \"$AUDIT_FILE\" } }, and restart it (or set vault.audit.enabled: false and render again)" ;;
      *) die "enabling the file audit device at $AUDIT_PATH/ failed: $output" ;;
    esac
  fi
  say "enabled the file audit device at $AUDIT_PATH/ writing $AUDIT_FILE"
else
  case "$existing" in
    *"file_path=$AUDIT_FILE"*) say "audit device $AUDIT_PATH/ already writes $AUDIT_FILE" ;;
    *) die "audit device $AUDIT_PATH/ exists with other options ($existing); not changing it: disable it or set vault.audit.path" ;;
  esac
fi
