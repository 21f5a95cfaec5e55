#!/usr/bin/env bash
# Vault CA for istiod, cluster east: runs every step in order. Safe to re-run: each step checks what exists and changes only
# what differs; no step ever replaces an existing CA or stored key.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/03-kv.sh"
bash "$here/04-intermediate-pki.sh"
bash "$here/05-kubernetes-auth.sh"
bash "$here/06-policy.sh"
printf '[setup] done: Vault CA for istiod, cluster east\n'
