#!/usr/bin/env bash
# root CA in pki/: runs every step in order. Safe to re-run: each step checks what exists and changes only
# what differs; no step ever replaces an existing CA or stored key.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/01-audit.sh"
bash "$here/02-root-pki.sh"
printf '[setup] done: root CA in pki/\n'
