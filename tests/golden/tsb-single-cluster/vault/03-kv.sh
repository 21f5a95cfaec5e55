#!/usr/bin/env bash
# Step 3: the KV mount that keeps a copy of the intermediate CA key for istiod.
# Rendered by istio-vault-ca; edit the config and re-render rather than this file.
set -euo pipefail
# The shared helpers (lib.sh, beside this file).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STEP=kv
KV_MOUNT='kv'
KV_VERSION=1

require_vault
ensure_secrets_mount "$KV_MOUNT" kv -version="$KV_VERSION"
if [ "$MOUNT_ENABLED_NOW" = yes ]; then
  found_version="$KV_VERSION"
else
  # An existing mount states its version in options.version; a KV mount without options is version 1.
  found_version="${MOUNT_VERSION:-1}"
fi
if [ "$found_version" != "$KV_VERSION" ]; then
  die "$KV_MOUNT/ is KV version $found_version but the config says $KV_VERSION: the policy and agent template would not match; set kv.version: $found_version or use another kv.mount"
fi
say "$KV_MOUNT/ is KV version $KV_VERSION"
