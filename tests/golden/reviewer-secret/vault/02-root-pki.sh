#!/usr/bin/env bash
# Step 2: the root CA, generated inside Vault (its key never leaves Vault). An existing root is kept.
# Rendered by istio-vault-ca; edit the config and re-render rather than this file.
set -euo pipefail
# The shared helpers (lib.sh, beside this file).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STEP=root-pki
ROOT_MOUNT='pki'
ROOT_CN='example.com Root CA'
ROOT_TTL='87600h'
ROOT_TTL_SECONDS=315360000
ROOT_KEY_TYPE='rsa'
ROOT_KEY_BITS='4096'
# The root mount signs every intermediate: its max TTL must cover the longest one, or Vault grants less.
SIGNING_MAX_TTL='87600h'
SIGNING_MAX_TTL_SECONDS=315360000

require_vault
ensure_mount_max_ttl "$ROOT_MOUNT" pki "$SIGNING_MAX_TTL_SECONDS" "$SIGNING_MAX_TTL"
# A mount enabled just now holds no CA: no need to ask.
if [ "$MOUNT_ENABLED_NOW" = no ] && existing_cert=$(root_ca_cert); then
  remember_root_ca "$existing_cert"
  ca_drift root "istio-vault-ca plan-rotation --root" "$existing_cert" root \
    "$ROOT_CN" "$ROOT_KEY_TYPE" "$ROOT_KEY_BITS" "$ROOT_TTL" "$ROOT_TTL_SECONDS"
  if [ "$CA_DRIFT" = 0 ]; then
    say "a root CA already exists in $ROOT_MOUNT/ and matches the config; keeping it (this script never replaces a CA)"
  else
    say "kept the root CA in $ROOT_MOUNT/ ($CA_DRIFT difference(s) from the config above; this script never replaces a CA)"
  fi
else
  make_workdir
  # The answer is the new certificate, kept for step 04 (which would otherwise read it back).
  root_cert=$("$VAULT_CLI" write -field=certificate "$ROOT_MOUNT/root/generate/internal" \
    common_name="$ROOT_CN" ttl="$ROOT_TTL" key_type="$ROOT_KEY_TYPE" key_bits="$ROOT_KEY_BITS" \
    issuer_name=root 2>"$WORKDIR/error.txt") \
    || die "generating the root CA in $ROOT_MOUNT/ failed: $(cat "$WORKDIR/error.txt")"
  remember_root_ca "$root_cert"
  say "generated the root CA '$ROOT_CN' in $ROOT_MOUNT/ (valid $ROOT_TTL, $ROOT_KEY_TYPE $ROOT_KEY_BITS)"
fi
