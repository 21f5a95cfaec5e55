#!/usr/bin/env bash
# Step 6: the policy istiod's role carries: read on exactly the paths the agent templates read.
# Rendered by istio-vault-ca; edit the config and re-render rather than this file.
set -euo pipefail
# The shared helpers (lib.sh, beside this file).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STEP=policy
POLICY='istioca'
POLICY_FILE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/policy.hcl"

require_vault
[ -r "$POLICY_FILE" ] || die "cannot read $POLICY_FILE (it is rendered beside the vault/ directory)"
current=$("$VAULT_CLI" policy read "$POLICY" 2>/dev/null || true)
if [ "$current" = "$(cat "$POLICY_FILE")" ]; then
  say "policy $POLICY is already up to date"
else
  quietly policy write "$POLICY" "$POLICY_FILE"
  say "wrote policy $POLICY from policy.hcl"
fi
