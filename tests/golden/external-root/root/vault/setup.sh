#!/usr/bin/env bash
# shared steps (offline root): runs every step in order. Safe to re-run: each step checks what exists and changes only
# what differs; no step ever replaces an existing CA or stored key.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/01-audit.sh"
printf '[setup] done: shared steps (offline root)\n'
