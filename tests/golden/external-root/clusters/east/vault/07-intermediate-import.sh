#!/usr/bin/env bash
# Step 7, offline root (phase two): import the certificate the offline root signed, with the root itself
# (set-signed with the full bundle, so cert/ca_chain ends with the root), and name the imported root issuer
# 'root' (the agent reads root-cert.pem from istioca-east/issuer/root).
# Run it after setup.sh and the offline signing. Safe to re-run; an imported intermediate is never replaced.
# Rendered by istio-vault-ca; edit the config and re-render rather than this file.
set -euo pipefail
# The shared helpers (lib.sh, beside this file).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STEP=intermediate-import
CLUSTER='east'
INT_MOUNT='istioca-east'
INT_CN='example.com Mesh Intermediate'
INT_TTL='8760h'
INT_TTL_SECONDS=31536000
INT_KEY_TYPE='ec'
INT_KEY_BITS='256'
INT_MAX_PATH_LENGTH='0'
# The intermediate fields this cluster's entry sets itself (a difference names clusters[...] for them).
INT_OVERRIDES=''
KEY_NAME='istiod-intermediate'
KV_MOUNT='kv'
KV_VERSION=2
KV_PATH='istioca/east'
KV_FIELD='ca-key.pem'
ROOT_ISSUER='root'
CONFIGURED_ROOT_CERT_FILE='offline-root/root-ca.pem'
# CSR_DIR, SIGNED_CERT_FILE and ROOT_CERT_FILE override where the CSR, the signed certificate and the offline
# root's certificate are (root.certificate_file is taken relative to the directory you run this from).
CSR_DIR="${CSR_DIR:-csr}"
CSR_FILE="$CSR_DIR/$CLUSTER-intermediate.csr"
SIGNED_CERT_FILE="${SIGNED_CERT_FILE:-$CSR_DIR/$CLUSTER-intermediate.pem}"
ROOT_CERT_FILE="${ROOT_CERT_FILE:-$CONFIGURED_ROOT_CERT_FILE}"

# name_root_issuer: the imported root is the issuer without a key whose certificate is ROOT_CERT_FILE's.
name_root_issuer() {
  local id
  for id in $(list_issuers); do
    if [ -z "$(issuer_field "$id" key_id)" ] && [ "$(issuer_field "$id" certificate | pem_body)" = "$ROOT_BODY" ]; then
      quietly patch "$INT_MOUNT/issuer/$id" issuer_name="$ROOT_ISSUER" || die "naming issuer $id failed"
      say "named the imported root issuer '$ROOT_ISSUER' in $INT_MOUNT/"
      return 0
    fi
  done
  die "no issuer in $INT_MOUNT/ is the root in $ROOT_CERT_FILE"
}

require_vault
[ "$(secrets_mount_type "$INT_MOUNT")" = pki ] || die "no PKI mount at $INT_MOUNT/: run clusters/east/vault/setup.sh (its step 04-intermediate-csr.sh) first"
kv_has_key "$KV_PATH" || die "no intermediate key in $KV_MOUNT/$KV_PATH: run clusters/east/vault/setup.sh (its step 04-intermediate-csr.sh) first"
if existing_cert=$("$VAULT_CLI" read -field=certificate "$INT_MOUNT/cert/ca" 2>/dev/null) \
  && [ "$(issuer_field "$ROOT_ISSUER" issuer_name)" = "$ROOT_ISSUER" ]; then
  ca_drift intermediate "istio-vault-ca plan-rotation --force $CLUSTER" "$existing_cert" intermediate \
    "$INT_CN" "$INT_KEY_TYPE" "$INT_KEY_BITS" "$INT_TTL" "$INT_TTL_SECONDS" "" "$INT_MAX_PATH_LENGTH"
  if [ "$CA_DRIFT" = 0 ]; then
    say "$INT_MOUNT/ already holds the signed intermediate and the root issuer '$ROOT_ISSUER'; keeping them"
  else
    say "kept the signed intermediate in $INT_MOUNT/ ($CA_DRIFT difference(s) from the config above; an imported intermediate is never replaced)"
  fi
  exit 0
fi

[ -r "$ROOT_CERT_FILE" ] \
  || die "cannot read the offline root certificate $ROOT_CERT_FILE: set ROOT_CERT_FILE (root.certificate_file is relative to where you run this)"
[ "$(grep -c -- '-----BEGIN CERTIFICATE-----' "$ROOT_CERT_FILE")" = 1 ] \
  || die "$ROOT_CERT_FILE must hold exactly one certificate: the offline root"
ROOT_BODY=$(pem_body <"$ROOT_CERT_FILE")

if "$VAULT_CLI" read -field=certificate "$INT_MOUNT/cert/ca" >/dev/null 2>&1; then
  say "the signed intermediate is already in $INT_MOUNT/ (an earlier run stopped before naming the root)"
else
  key_id=$(key_id_of "$KEY_NAME")
  [ -n "$key_id" ] || die "no key $KEY_NAME in $INT_MOUNT/: run clusters/east/vault/setup.sh (its step 04-intermediate-csr.sh) first"
  [ -r "$SIGNED_CERT_FILE" ] \
    || die "no signed certificate at $SIGNED_CERT_FILE: sign $CSR_FILE with 'istio-vault-ca sign-intermediate' (or set SIGNED_CERT_FILE)"
  grep -q -- '-----BEGIN CERTIFICATE-----' "$SIGNED_CERT_FILE" || die "$SIGNED_CERT_FILE holds no PEM certificate"
  make_workdir
  # The bundle is the signed certificate then the root (unless the file already ends with the root).
  cp -- "$SIGNED_CERT_FILE" "$WORKDIR/bundle.pem"
  if [ "$(awk '/-----BEGIN CERTIFICATE-----/ { block = "" } { block = block $0 "\n" } END { printf "%s", block }' "$SIGNED_CERT_FILE" | pem_body)" != "$ROOT_BODY" ]; then
    printf '\n' >>"$WORKDIR/bundle.pem"
    cat -- "$ROOT_CERT_FILE" >>"$WORKDIR/bundle.pem"
  fi
  import_signed "$WORKDIR/bundle.pem" "$key_id" "$ROOT_BODY"
  if [ "$(default_issuer)" != "$IMPORTED_ISSUER" ]; then
    quietly write "$INT_MOUNT/config/issuers" default="$IMPORTED_ISSUER" || die "making $IMPORTED_ISSUER the default issuer failed"
  fi
  say "imported $SIGNED_CERT_FILE and the root into $INT_MOUNT/ (issuer $IMPORTED_ISSUER is the mount's CA)"
fi
name_root_issuer
