# shellcheck shell=bash
# lib.sh: what every script in this directory shares, sourced (never run) by each of them: the Vault address and
# CLI (the environment overrides the config's), messages, and the mount and key helpers. A step file holds only
# its step: its values from the config, then the calls below. Calls to the CLI are counted (each is a process
# start), so the helpers read a mount once and reuse what they read.
# Rendered by istio-vault-ca; edit the config and re-render rather than this file.
set -euo pipefail

# The environment overrides these defaults from the config.
CONFIGURED_VAULT_CLI='vault'
CONFIGURED_VAULT_ADDR='https://vault.example.com:8200'
VAULT_CLI="${VAULT_CLI:-$CONFIGURED_VAULT_CLI}"
export VAULT_ADDR="${VAULT_ADDR:-$CONFIGURED_VAULT_ADDR}"

say() { printf '[%s] %s\n' "$STEP" "$*"; }
die() { printf '[%s] ERROR: %s\n' "$STEP" "$*" >&2; exit 1; }

# Runs a vault command with its output discarded; shows what it printed on stderr only when it fails.
quietly() {
  local output
  if ! output=$("$VAULT_CLI" "$@" 2>&1 >/dev/null); then
    printf '%s\n' "$output" >&2
    return 1
  fi
}

# The run's facts. setup.sh runs each step as a process of its own; what one step learned or made (the mounts
# listing setup.sh read as its session check, a mount a step enabled or tuned, the root CA) is kept for the steps
# after it in a private directory setup.sh makes (ISTIO_VAULT_CA_RUN: 0700, removed when setup.sh ends), so no
# step asks Vault again what this run already knows: every CLI call is a process start (~0.1 s). A step run on
# its own has no such directory and asks Vault itself. The facts hold no key material.
#   mounts.json    the secrets mounts, as `read -format=json sys/mounts` printed them before the first step
#   mounts.changed a mount this run enabled or tuned since: PATH TYPE MAX_TTL VERSION CREATED, newest last
#   root-ca.pem    the root CA's certificate, once step 02 has read or generated it

# run_facts: true when this step runs under setup.sh's facts, read from the same Vault and namespace.
run_facts() {
  [ -n "${ISTIO_VAULT_CA_RUN:-}" ] && [ -d "$ISTIO_VAULT_CA_RUN" ] \
    && [ "${ISTIO_VAULT_CA_RUN_FOR:-}" = "$VAULT_ADDR ${VAULT_NAMESPACE:-}" ]
}

require_vault() {
  # setup.sh checks once for all its steps and exports the address it checked.
  if [ -n "${ISTIO_VAULT_CA_CHECKED_ADDR:-}" ] && [ "$ISTIO_VAULT_CA_CHECKED_ADDR" = "$VAULT_ADDR" ]; then
    return 0
  fi
  command -v "$VAULT_CLI" >/dev/null 2>&1 \
    || die "the '$VAULT_CLI' CLI is not on PATH: install it, or set VAULT_CLI to the vault or bao binary"
  # One call when all is well: a token lookup answers only from a reachable, unsealed Vault that knows the
  # token. Only when it fails does `status` (exit 2: sealed) tell the causes apart.
  "$VAULT_CLI" token lookup >/dev/null 2>&1 && return 0
  local status=0
  "$VAULT_CLI" status >/dev/null 2>&1 || status=$?
  case "$status" in
    0) die "not authenticated to Vault at $VAULT_ADDR: set VAULT_TOKEN or run '$VAULT_CLI login'" ;;
    2) die "Vault at $VAULT_ADDR is sealed: unseal it, then re-run" ;;
    *) die "cannot reach Vault at $VAULT_ADDR: set VAULT_ADDR (and VAULT_CACERT for a private CA), then re-run" ;;
  esac
}

# start_run: setup.sh's session check and the run's facts. One CLI call, the secrets mounts listing, answers
# only from a reachable, unsealed Vault that knows the token, and the steps read their mounts from it. When it
# fails, require_vault says why (a token that may not list sys/mounts still runs: each step then asks itself).
start_run() {
  command -v "$VAULT_CLI" >/dev/null 2>&1 \
    || die "the '$VAULT_CLI' CLI is not on PATH: install it, or set VAULT_CLI to the vault or bao binary"
  ISTIO_VAULT_CA_RUN=$(mktemp -d "${TMPDIR:-/tmp}/istio-vault-ca-run.XXXXXX")
  chmod 700 "$ISTIO_VAULT_CA_RUN"
  trap 'rm -rf -- "$ISTIO_VAULT_CA_RUN"' EXIT
  trap 'exit 130' INT TERM
  if ! "$VAULT_CLI" read -format=json sys/mounts >"$ISTIO_VAULT_CA_RUN/mounts.json" 2>/dev/null; then
    rm -f -- "$ISTIO_VAULT_CA_RUN/mounts.json"
    require_vault
  fi
  export ISTIO_VAULT_CA_RUN ISTIO_VAULT_CA_RUN_FOR="$VAULT_ADDR ${VAULT_NAMESPACE:-}"
  export ISTIO_VAULT_CA_CHECKED_ADDR="$VAULT_ADDR"
}

secrets_mount_type() { "$VAULT_CLI" read -field=type "sys/mounts/$1" 2>/dev/null || true; }
auth_mount_type() { "$VAULT_CLI" read -field=type "sys/auth/$1" 2>/dev/null || true; }

# read_mount PATH: MOUNT_TYPE (empty when there is no mount), MOUNT_MAX_TTL (seconds; 0 means the system
# default), MOUNT_VERSION (KV options.version) and MOUNT_CREATED (yes: a step of this run enabled it) from one
# read, since every CLI call costs a process start. It asks Vault only when neither this run's facts nor
# MOUNTS_JSON (read_mounts) know the mount.
read_mount() {
  local json line
  MOUNT_PATH="$1"
  # shellcheck disable=SC2034 # read by the step that called us
  MOUNT_CREATED=no
  if run_facts && [ -f "$ISTIO_VAULT_CA_RUN/mounts.changed" ]; then
    line=$(awk -v path="$1" '$1 == path { line = $0 } END { print line }' "$ISTIO_VAULT_CA_RUN/mounts.changed")
    if [ -n "$line" ]; then
      # shellcheck disable=SC2034 # read by the step that called us
      read -r _ MOUNT_TYPE MOUNT_MAX_TTL MOUNT_VERSION MOUNT_CREATED <<<"$line"
      MOUNT_VERSION="${MOUNT_VERSION#-}"
      return 0
    fi
  fi
  if [ -z "${MOUNTS_JSON:-}" ] && run_facts && [ -s "$ISTIO_VAULT_CA_RUN/mounts.json" ]; then
    MOUNTS_JSON=$(cat -- "$ISTIO_VAULT_CA_RUN/mounts.json")
  fi
  if [ -n "${MOUNTS_JSON:-}" ]; then
    # The CLI's listing indents each mount's key by 4 spaces and closes its object at the same indent. awk reads
    # to the end rather than exit at the match: under pipefail, printf writing into a closed pipe (a listing
    # longer than one write) would fail the step with SIGPIPE (exit 141).
    json=$(printf '%s\n' "$MOUNTS_JSON" | awk -v key="    \"$1/\": {" '$0 == key && !done { on = 1; next } on && /^    }/ { on = 0; done = 1 } on')
  else
    json=$("$VAULT_CLI" read -format=json "sys/mounts/$1" 2>/dev/null || true)
  fi
  MOUNT_TYPE=$(json_value "$json" type)
  MOUNT_MAX_TTL=$(json_value "$json" max_lease_ttl)
  MOUNT_MAX_TTL="${MOUNT_MAX_TTL:-0}"
  # shellcheck disable=SC2034 # read by the step that called us
  MOUNT_VERSION=$(json_value "$json" version)
}

# remember_mount: what read_mount's variables now say of MOUNT_PATH (a step just enabled or tuned it), for the
# steps after this one.
remember_mount() {
  if run_facts; then
    printf '%s %s %s %s %s\n' "$MOUNT_PATH" "$MOUNT_TYPE" "$MOUNT_MAX_TTL" "${MOUNT_VERSION:--}" "$MOUNT_CREATED" \
      >>"$ISTIO_VAULT_CA_RUN/mounts.changed"
  fi
}

# read_mounts: every secrets mount in one CLI call, for a step that looks at several (unless this run read them
# already); read_mount then uses it. A step that enables a mount updates what read_mount reports for it
# (ensure_secrets_mount).
read_mounts() {
  if run_facts && [ -s "$ISTIO_VAULT_CA_RUN/mounts.json" ]; then
    MOUNTS_JSON=$(cat -- "$ISTIO_VAULT_CA_RUN/mounts.json")
    return 0
  fi
  MOUNTS_JSON=$("$VAULT_CLI" read -format=json sys/mounts 2>/dev/null) \
    || die "cannot list the secrets engines at $VAULT_ADDR (sys/mounts): the token needs read on sys/mounts"
}

# root_ca_cert: the root CA's certificate in $ROOT_MOUNT (fails when it has none): this run's copy once step 02
# has read or generated it, else Vault's.
root_ca_cert() {
  if run_facts && [ -s "$ISTIO_VAULT_CA_RUN/root-ca.pem" ]; then
    cat -- "$ISTIO_VAULT_CA_RUN/root-ca.pem"
  else
    "$VAULT_CLI" read -field=certificate "$ROOT_MOUNT/cert/ca" 2>/dev/null
  fi
}

# remember_root_ca PEM: the root CA's certificate, for the steps after this one.
remember_root_ca() {
  if run_facts; then printf '%s\n' "$1" >"$ISTIO_VAULT_CA_RUN/root-ca.pem"; fi
}

# json_value JSON KEY: the first scalar `"KEY": value` of the CLI's indented JSON, without quotes.
json_value() {
  printf '%s\n' "$1" | sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" | sed -n 1p
}

# ensure_secrets_mount PATH TYPE [ENABLE-FLAGS...]: enable once; an existing mount of another type stops us.
# Leaves read_mount's variables describing PATH, and MOUNT_ENABLED_NOW=yes when this call created it (a new
# mount holds nothing, so the caller need not ask Vault what is in it).
ensure_secrets_mount() {
  local path="$1" type="$2"
  shift 2
  read_mount "$path"
  # shellcheck disable=SC2034 # read by the step that called us
  MOUNT_ENABLED_NOW=no
  if [ -z "$MOUNT_TYPE" ]; then
    quietly secrets enable -path="$path" "$@" "$type"
    say "enabled the $type secrets engine at $path/"
    # shellcheck disable=SC2034 # read by the step that called us
    MOUNT_TYPE="$type" MOUNT_MAX_TTL=0 MOUNT_VERSION="" MOUNT_ENABLED_NOW=yes MOUNT_CREATED=yes
    local flag
    for flag in "$@"; do
      case "$flag" in -version=*) MOUNT_VERSION="${flag#-version=}" ;; esac
    done
    remember_mount
  elif [ "$MOUNT_TYPE" != "$type" ]; then
    die "$path/ is already a '$MOUNT_TYPE' mount, not '$type': pick another mount name in the config"
  else
    say "$path/ is already a $type mount"
  fi
}

# human_ttl SECONDS: Vault's seconds in the config's usual unit (whole hours, else seconds); 0 is Vault's default.
human_ttl() {
  if [ "$1" = 0 ]; then
    printf 'the system default'
  elif [ $(($1 % 3600)) -eq 0 ]; then
    printf '%sh' $(($1 / 3600))
  else
    printf '%ss' "$1"
  fi
}

# ensure_max_ttl PATH SECONDS DURATION [at-least]: set the mount's max lease TTL (or only raise it). Uses what
# read_mount found when it last read PATH, else reads the mount's tune.
ensure_max_ttl() {
  local path="$1" seconds="$2" duration="$3" mode="${4:-exact}" current
  if [ "${MOUNT_PATH:-}" = "$path" ]; then
    current="$MOUNT_MAX_TTL"
  else
    current=$("$VAULT_CLI" read -field=max_lease_ttl "sys/mounts/$path/tune")
  fi
  if [ "$current" = "$seconds" ]; then
    say "$path/ max lease TTL is $duration (unchanged)"
  elif [ "$mode" = at-least ] && [ "$current" -ge "$seconds" ]; then
    say "$path/ max lease TTL is $(human_ttl "$current"), at least $duration (unchanged)"
  else
    quietly secrets tune -max-lease-ttl="$duration" "$path"
    say "$path/ max lease TTL set to $duration (was $(human_ttl "$current"))"
    if [ "${MOUNT_PATH:-}" = "$path" ]; then
      MOUNT_MAX_TTL="$seconds"
      remember_mount
    fi
  fi
}

# ensure_mount_max_ttl PATH TYPE SECONDS DURATION [at-least]: ensure_secrets_mount, then ensure_max_ttl; a new
# mount is enabled with the max lease TTL already set, saving the tune call.
ensure_mount_max_ttl() {
  local path="$1" type="$2" seconds="$3" duration="$4" mode="${5:-exact}"
  read_mount "$path"
  if [ -z "$MOUNT_TYPE" ]; then
    quietly secrets enable -path="$path" -max-lease-ttl="$duration" "$type"
    say "enabled the $type secrets engine at $path/ with max lease TTL $duration"
    # shellcheck disable=SC2034 # read by the step that called us
    MOUNT_TYPE="$type" MOUNT_MAX_TTL="$seconds" MOUNT_VERSION="" MOUNT_ENABLED_NOW=yes MOUNT_CREATED=yes
    remember_mount
  elif [ "$MOUNT_TYPE" != "$type" ]; then
    die "$path/ is already a '$MOUNT_TYPE' mount, not '$type': pick another mount name in the config"
  else
    # shellcheck disable=SC2034 # read by the step that called us
    MOUNT_ENABLED_NOW=no
    say "$path/ is already a $type mount"
    ensure_max_ttl "$path" "$seconds" "$duration" "$mode"
  fi
}

# A private work directory for key material: 0700, removed however the script ends.
make_workdir() {
  WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/istio-vault-ca.XXXXXX")
  chmod 700 "$WORKDIR"
  trap 'rm -rf -- "$WORKDIR"' EXIT
  trap 'exit 130' INT TERM
}

# The intermediate's key in KV: it is exported once by Vault, so a copy is stored before anything else.
# kv_has_key PATH: true when PATH in $KV_MOUNT holds a key (the output is the key, so it is discarded).
kv_has_key() { "$VAULT_CLI" kv get -mount="$KV_MOUNT" -field="$KV_FIELD" "$1" >/dev/null 2>&1; }

# kv_store_new_key PATH FILE [checked]: writes only where nothing is stored (KV v2: cas=0 also stops a racing
# run). `checked`: the caller has just seen PATH empty with kv_has_key, so KV v1 is not asked again.
kv_store_new_key() {
  if [ "$KV_VERSION" = 2 ]; then
    quietly kv put -mount="$KV_MOUNT" -cas=0 "$1" "$KV_FIELD=@$2"
  else
    if [ "${3:-}" != checked ] && kv_has_key "$1"; then return 1; fi
    quietly kv put -mount="$KV_MOUNT" "$1" "$KV_FIELD=@$2"
  fi
}

# generate_exported_key NAME FILE: a new key in $INT_MOUNT; its one and only export goes to FILE (0600).
generate_exported_key() {
  (
    umask 077
    "$VAULT_CLI" write -field=private_key "$INT_MOUNT/keys/generate/exported" \
      key_name="$1" key_type="$INT_KEY_TYPE" key_bits="$INT_KEY_BITS" >"$2" 2>"$WORKDIR/error.txt"
  ) || die "generating key $1 in $INT_MOUNT/ failed: $(cat "$WORKDIR/error.txt")"
}

# generate_key_and_csr NAME KEY_FILE CSR_FILE: a new key in $INT_MOUNT and the intermediate's CSR for it, from
# one call; the key's one and only export goes to KEY_FILE (0600). The CLI's JSON answer holds both PEMs on one
# line each, their line breaks escaped (\n); the answer is kept in the private workdir only until it is split.
generate_key_and_csr() {
  (
    umask 077
    "$VAULT_CLI" write -format=json "$INT_MOUNT/intermediate/generate/exported" \
      key_name="$1" key_type="$INT_KEY_TYPE" key_bits="$INT_KEY_BITS" common_name="$INT_CN" \
      >"$WORKDIR/generated.json" 2>"$WORKDIR/error.txt" \
      && json_pem private_key <"$WORKDIR/generated.json" >"$2" \
      && json_pem csr <"$WORKDIR/generated.json" >"$3"
  ) || die "generating key $1 and its CSR in $INT_MOUNT/ failed: $(cat "$WORKDIR/error.txt")"
  rm -f -- "$WORKDIR/generated.json"
  if ! grep -- '-----BEGIN' "$2" >/dev/null || ! grep -- '-----BEGIN' "$3" >/dev/null; then
    die "the answer of $INT_MOUNT/intermediate/generate/exported holds no key or CSR"
  fi
}

# json_pem KEY: the PEM string `"KEY": "-----BEGIN ...\n...-----END ...-----"` of the CLI's indented JSON on
# stdin, its line breaks restored (awk reads to the end: no SIGPIPE under pipefail).
json_pem() {
  awk -v key="\"$1\": \"" 'index($0, key) && !done {
    line = substr($0, index($0, key) + length(key)); sub(/",?$/, "", line); gsub(/\\n/, "\n", line)
    print line; done = 1
  }'
}

key_id_of() { "$VAULT_CLI" read -field=key_id "$INT_MOUNT/key/$1" 2>/dev/null || true; }

# kv_key_gone PATH CLUSTER: why PATH holds no key, and the command that brings one back (for a message). KV v2
# keeps metadata: a deleted version (soft delete) is restored with `kv undelete`; a destroyed one, or a path
# never written, cannot be: Vault never exports a key twice, so the intermediate is replaced under the same root.
kv_key_gone() {
  local meta version
  if [ "$KV_VERSION" != 2 ]; then
    printf 'nothing at %s/%s (a KV v1 delete cannot be undone)' "$KV_MOUNT" "$1"
  elif ! meta=$("$VAULT_CLI" read -format=json -field=metadata "$KV_MOUNT/data/$1" 2>/dev/null); then
    printf 'nothing at %s/%s (never written, or its metadata deleted: no version to undelete)' "$KV_MOUNT" "$1"
  else
    version=$(printf '%s\n' "$meta" | sed -n 's/^ *"version": *\([0-9][0-9]*\).*/\1/p')
    # grep reads to the end (no -q): under pipefail an early exit could fail printf with SIGPIPE (exit 141).
    if printf '%s\n' "$meta" | grep '"destroyed": *true' >/dev/null; then
      printf 'version %s of %s/%s was destroyed (kv destroy): that key is gone' "$version" "$KV_MOUNT" "$1"
    elif printf '%s\n' "$meta" | grep '"deletion_time": *"[0-9]' >/dev/null; then
      printf "version %s of %s/%s was deleted (a KV v2 soft delete): restore it with '%s kv undelete -mount=%s -versions=%s %s', then re-run" \
        "$version" "$KV_MOUNT" "$1" "$VAULT_CLI" "$KV_MOUNT" "$version" "$1"
      return 0
    else
      printf '%s/%s has no field %s' "$KV_MOUNT" "$1" "$KV_FIELD"
    fi
  fi
  printf '; Vault never exports a key twice, so replace the intermediate (a new key under the same root): istio-vault-ca plan-rotation --force %s (add -c CONFIG unless it is ./istio-vault-ca.yaml), then run the rotation/%s/rotate-intermediate.sh it writes' "$2" "$2"
}

# A CA this step keeps (it never replaces one) is compared with what the config asks for, so a config change
# is reported here rather than silently ignored; `istio-vault-ca verify vault` fails on the same differences.
# ca_facts reads a PEM certificate on stdin and prints `cn=`, `issuer_cn=`, `key=TYPE BITS`, `lifetime=SECONDS`
# and `path_length=N` (-1: no limit). The DER is walked with od and a POSIX awk, so no certificate tool is needed.
ca_facts() {
  grep -v -- '-----' | tr -d ' \t\r\n' | base64 -d 2>/dev/null | od -An -v -tu1 | LC_ALL=C awk '
    { for (i = 1; i <= NF; i++) b[++n] = $i + 0 }
    # hdr(P): tag T, content start C and content length L of the element at P; returns the index after it.
    function hdr(p,   k, j) {
      T = b[p]; L = b[p + 1]; C = p + 2
      if (L >= 128) { k = L - 128; L = 0; for (j = 0; j < k; j++) L = L * 256 + b[p + 2 + j]; C = p + 2 + k }
      return C + L
    }
    function bytes(p, len,   s, j) { s = ""; for (j = 0; j < len; j++) s = s sprintf("%c", b[p + j]); return s }
    function hex(p, len,   s, j) { s = ""; for (j = 0; j < len; j++) s = s sprintf("%02x", b[p + j]); return s }
    # cn(P): the first commonName (OID 2.5.4.3) of the Name at P.
    function cn(p,   end, set, setend, attr, nextattr, oid, value) {
      end = hdr(p); set = C
      while (set < end) {
        setend = hdr(set); attr = C
        while (attr < setend) {
          nextattr = hdr(attr); oid = C; value = hdr(oid)
          if (T == 6 && hex(C, L) == "550403") { hdr(value); return bytes(C, L) }
          attr = nextattr
        }
        set = setend
      }
      return ""
    }
    function days(y, m, d) { y -= (m <= 2); return 365 * y + int(y / 4) - int(y / 100) + int(y / 400) + int((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d }
    # epoch(P): a UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) as seconds on one scale.
    function epoch(p,   s, y) {
      hdr(p); s = bytes(C, L)
      if (T == 23) { y = substr(s, 1, 2) + 0; y += (y < 50 ? 2000 : 1900); s = substr(s, 3) } else { y = substr(s, 1, 4) + 0; s = substr(s, 5) }
      return days(y, substr(s, 1, 2) + 0, substr(s, 3, 2) + 0) * 86400 + substr(s, 5, 2) * 3600 + substr(s, 7, 2) * 60 + substr(s, 9, 2)
    }
    function bitlen(x,   k) { k = 0; while (x > 0) { k++; x = int(x / 2) }; return k }
    END {
      if (n < 10) exit 1
      hdr(1); tbs = C; hdr(tbs); p = C
      if (b[p] == 160) p = hdr(p)               # [0] version
      p = hdr(p); p = hdr(p)                     # serial, signature algorithm
      print "issuer_cn=" cn(p); p = hdr(p)
      validity = p; p = hdr(p); hdr(validity); notbefore = C; notafter = hdr(notbefore)
      start = epoch(notbefore); print "lifetime=" (epoch(notafter) - start)
      print "cn=" cn(p); p = hdr(p)
      spki = p; after_spki = hdr(spki); alg = C; bits_at = hdr(alg); oid = C; params = hdr(oid); oid = hex(C, L)
      if (oid == "2a864886f70d010101") {
        hdr(bits_at); hdr(C + 1); hdr(C)         # BIT STRING, RSAPublicKey, modulus
        while (L > 0 && b[C] == 0) { C++; L-- }
        print "key=rsa " ((L - 1) * 8 + bitlen(b[C]))
      } else if (oid == "2a8648ce3d0201") {
        hdr(params); curve = hex(C, L)
        size = curve == "2a8648ce3d030107" ? 256 : curve == "2b81040022" ? 384 : curve == "2b81040023" ? 521 : "?"
        print "key=ec " size
      } else print "key=other ?"
      pathlen = -1; p = after_spki
      while (p < end_tbs() && b[p] != 163) p = hdr(p)
      if (p < end_tbs()) {
        hdr(p); hdr(C); ext = C; extend = C + L
        while (ext < extend) {
          nextext = hdr(ext); q = hdr(C); oidhex = hex(C, L)
          if (oidhex == "551d13") {
            if (b[q] == 1) q = hdr(q)            # critical
            hdr(q); hdr(C); q = C; bcend = C + L  # OCTET STRING, BasicConstraints
            while (q < bcend) { after = hdr(q); if (T == 2) { pathlen = 0; for (j = 0; j < L; j++) pathlen = pathlen * 256 + b[C + j] }; q = after }
          }
          ext = nextext
        }
      }
      print "path_length=" pathlen
    }
    function end_tbs(   save_t, save_c, save_l, e) { save_t = T; save_c = C; save_l = L; e = hdr(tbs); T = save_t; C = save_c; L = save_l; return e }
  '
}

# fact NAME FACTS: one value from ca_facts' output.
fact() { printf '%s\n' "$2" | sed -n "s/^$1=//p"; }

# ca_drift WHAT FIX PEM FIELD-PREFIX CN KEY_TYPE KEY_BITS TTL TTL_SECONDS [ISSUER_CN [MAX_PATH_LENGTH]] (an empty
# one is not compared): says,
# for each field the kept CA differs on, what the config asks for and what Vault holds; CA_DRIFT is how many.
# A lifetime up to five minutes beyond the TTL is Vault's 30 s backdate (not_before_duration), not a change
# (verify/checks/vault/drift.py, LIFETIME_SLACK_SECONDS, allows the same).
ca_drift() {
  local what="$1" fix="$2" pem="$3" prefix="$4" facts have want
  CA_DRIFT=0
  if ! facts=$(printf '%s\n' "$pem" | ca_facts) || [ -z "$facts" ]; then
    say "cannot read the $what's certificate to compare it with the config: run istio-vault-ca verify vault"
    return 0
  fi
  drift_line() {
    local field="$prefix.$1"
    # A field the cluster's entry sets itself (INT_OVERRIDES: only the intermediate steps set it) is named there.
    case " ${INT_OVERRIDES:-} " in
      *" $1 "*) field="clusters[$CLUSTER].intermediate.$1" ;;
    esac
    CA_DRIFT=$((CA_DRIFT + 1))
    say "the config asks for $field $2, Vault holds $3: keeping it, see $fix"
  }
  have=$(fact cn "$facts")
  [ "$have" = "$5" ] || drift_line common_name "'$5'" "'$have'"
  have=$(fact key "$facts")
  if [ "${have% *}" != "$6" ]; then
    drift_line key_type "$6" "${have% *}"
  elif [ "${have#* }" != "$7" ]; then
    drift_line key_bits "$7" "${have#* }"
  fi
  if [ -n "${10:-}" ]; then
    have=$(fact issuer_cn "$facts")
    [ "$have" = "${10}" ] || drift_line issuer "the root '${10}'" "one issued by '$have'"
  fi
  if [ -n "${11:-}" ]; then
    have=$(fact path_length "$facts")
    [ "$have" = "${11}" ] || drift_line max_path_length "${11}" "$have"
  fi
  have=$(fact lifetime "$facts")
  want="$9"
  if [ -n "$have" ] && [ "$have" -gt $((want + 300)) ]; then
    drift_line ttl "at most $8" "a CA valid $((have / 3600))h"
  fi
}
