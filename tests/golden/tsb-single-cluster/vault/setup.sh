#!/usr/bin/env bash
# Vault CA for istiod, cluster default: runs every step in order. Safe to re-run: each step checks what exists and changes only
# what differs; no step ever replaces an existing CA or stored key.
# Rendered by istio-vault-ca; edit the config and re-render rather than this file.
set -euo pipefail
# The shared helpers (lib.sh, beside this file).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STEP=setup
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# One CLI call checks the session and reads what the steps share (lib.sh, start_run).
start_run
bash "$here/01-audit.sh"
bash "$here/02-root-pki.sh"
bash "$here/03-kv.sh"
bash "$here/04-intermediate-pki.sh"
bash "$here/05-kubernetes-auth.sh"
bash "$here/06-policy.sh"
printf '[setup] done: Vault CA for istiod, cluster default\n'
