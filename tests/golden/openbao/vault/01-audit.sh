#!/usr/bin/env bash
# Step 1: the file audit device, so every request (including reads of the CA key) is logged. OpenBao 2.x refuses
# audit devices over the API: this step checks that the device declared in the server's config
# (openbao/audit.hcl) is loaded, with the type and file path the config names, and never tries to create it.
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
CONFIGURED_AUDIT_FILE='/openbao/audit/audit.log'
AUDIT_FILE="${AUDIT_FILE_PATH:-$CONFIGURED_AUDIT_FILE}"

require_vault
STANZA="audit \"file\" \"$AUDIT_PATH/\" { options { file_path = \"$AUDIT_FILE\" } }"
existing=$("$VAULT_CLI" audit list -detailed 2>/dev/null | awk -v path="$AUDIT_PATH/" '$1 == path' || true)
if [ -z "$existing" ]; then
  die "no audit device at $AUDIT_PATH/: OpenBao loads audit devices only from its server config: add openbao/audit.hcl ($STANZA) to it (OpenBao Helm chart: istio-vault-ca render --merge-into <your-openbao-values.yaml> appends it to your server config) and restart the server"
fi
read -r _ device_type _ <<<"$existing"
case "$device_type" in
  file) ;;
  *) die "audit device $AUDIT_PATH/ is declared with type $device_type, not file: change its stanza in the server config to $STANZA and restart the server" ;;
esac
case "$existing" in
  *"file_path=$AUDIT_FILE"*) say "declared audit device $AUDIT_PATH/ writes $AUDIT_FILE" ;;
  *) die "audit device $AUDIT_PATH/ is declared with other options ($existing): declare $STANZA in the server config, or set vault.audit.file_path (or AUDIT_FILE_PATH) to the file it writes" ;;
esac
