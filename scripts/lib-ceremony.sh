# lib-ceremony.sh: what scripts/kill-sweep and scripts/kill-points share:
# the tools check and build (ceremony_setup), the workspace (fresh: two
# SoftHSM tokens, member keys, a roster, a ledger with both tokens
# enrolled), the ceremony scripts (script_KIND) and the checks run after
# an interrupted ceremony (check, tokens_agree). Sourced, not run; the
# caller sets PROG (its name, for messages) and TOP (a scratch directory)
# and is in the repository's root.

# ceremony_setup: checks the tools, builds bin/custos (CUSTOS) and finds
# the SoftHSM module (MODULE, exported as CUSTOS_PKCS11_MODULE).
ceremony_setup() {
  local t m
  for t in jq pkcs11-tool git ssh-keygen timeout "$@"; do
    command -v "$t" >/dev/null || { echo "$PROG: error: $t is not installed (scripts/setup.sh)" >&2; return 1; }
  done
  go build -o bin/custos ./cmd/custos || return 1
  CUSTOS=$PWD/bin/custos
  MODULE=${CUSTOS_PKCS11_MODULE:-}
  if [ -z "$MODULE" ]; then
    for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
      [ -e "$m" ] && MODULE=$m && break
    done
  fi
  [ -n "$MODULE" ] || { echo "$PROG: error: softhsm2 module not found" >&2; return 1; }
  export CUSTOS_PKCS11_MODULE=$MODULE
}

TOKENS=(custos-main custos-dr)
gen=0  # workspace generation

# fresh [DIR]: a new workspace W (DIR, or $TOP/wN) with its tokens, member
# keys, roster, ledger L and both tokens enrolled; SOFTHSM2_CONF points at
# its softhsm2.conf.
fresh() {
  gen=$((gen + 1))
  W=${1:-$TOP/w$gen}
  mkdir -p "$W/tokens" "$W/pins" "$W/keys" "$W/scripts" "$W/media" "$W/shares" "$W/out" "$W/log"
  chmod 700 "$W/pins" "$W/keys"
  cat > "$W/softhsm2.conf" <<CONF
directories.tokendir = $W/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
  export SOFTHSM2_CONF=$W/softhsm2.conf
  (
    umask 077
    for t in "${TOKENS[@]}"; do
      head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$W/pins/$t.user"
      head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$W/pins/$t.so"
    done
  )
  for t in "${TOKENS[@]}"; do
    "$CUSTOS" hsm init-token --module "$MODULE" --label "$t" \
      --so-pin-source "file:$W/pins/$t.so" --pin-source "file:$W/pins/$t.user" >/dev/null || return 1
  done
  for m in alice bob carol; do ssh-keygen -q -t ed25519 -N "" -C "$m" -f "$W/keys/$m" || return 1; done
  ssh-keygen -q -t rsa -b 3072 -N "" -C partner -f "$W/keys/partner" || return 1
  ssh-keygen -e -m PKCS8 -f "$W/keys/partner.pub" > "$W/partner.pub.pem" || return 1
  cat > "$W/roster.yaml" <<YAML
members:
  - name: alice
    roles: [custodian]
    key: $(cat "$W/keys/alice.pub")
  - name: bob
    roles: [officer, custodian]
    key: $(cat "$W/keys/bob.pub")
  - name: carol
    roles: [officer, custodian]
    key: $(cat "$W/keys/carol.pub")
policy:
  approvals:
    hsm.enrolled: {roles: [officer], count: 1}
    key.generate.intent: {roles: [officer], count: 1}
    key.export.intent: {roles: [officer], count: 1}
    key.destroy.intent: {roles: [officer], count: 1}
    backup.intent: {roles: [officer], count: 1}
    key.restore.intent: {roles: [officer], count: 1}
    roster.changed: {roles: [officer], count: 2, self_approval: true}
  algorithms: [aes-256, rsa-3072, ec-p256]
YAML
  L=$W/ledger
  K=(--key "alice=$W/keys/alice" --key "bob=$W/keys/bob" --key "carol=$W/keys/carol")
  "$CUSTOS" init "$L" --roster "$W/roster.yaml" "${K[@]}" >/dev/null || return 1
  for t in "${TOKENS[@]}"; do
    cat > "$W/scripts/enroll-$t.yaml" <<YAML
kind: enroll
ceremony: enroll-$t
hsm: "$(uri "$t")"
operator: alice
witnesses: [bob]
YAML
    "$CUSTOS" run "$W/scripts/enroll-$t.yaml" --ledger "$L" "${K[@]}" >/dev/null || return 1
  done
}

# store_cut: a token.object of the workspace is empty (SoftHSM's store cut
# by a kill). No "| grep -q" here or below: under pipefail, grep quitting at
# the first match makes the writer's next write fail (SIGPIPE) and the
# pipeline with it, a race that once failed CI.
store_cut() { [ -n "$(find "$W/tokens" -name token.object -size 0 -print -quit)" ]; }

uri() { echo "pkcs11:token=$1?module-path=$MODULE&pin-source=file:$W/pins/$1.user"; }

# inventory: the ledger's keys as lines "ID LABEL STATE TOKEN EXTRACTABLE CLASS"
# and the backups that can restore a key destroyed on its HSM as lines
# "backup BACKUP-ID KEY-LABEL".
inventory() {
  "$CUSTOS" inventory "$L" --json 2>/dev/null | jq -r '
    .[] | "\(.id) \(.label) \(.state) \(.hsm.label) \(.attributes.extractable == true and .attributes.wrap_with_trusted == true) \(.class)",
      (select(.state == "destroyed") | .backups[]? | select(.destroyed == null) | "backup \(.backup_id) \(.label // "-")")'
}


# script_KIND FILE TOKEN …: writes the ceremony script of that kind to FILE,
# for the token TOKEN (a label of TOKENS).

# script_generate FILE TOKEN LABEL TYPE [PUBDIR]: with PUBDIR, a key pair's
# public key is written there (LABEL.pem and LABEL.ssh.pub).
script_generate() {
  cat > "$1" <<YAML
kind: generate
hsm: "$(uri "$2")"
operator: alice
witnesses: [bob]
key:
  label: $3
  type: $4
  owner: sweep
  purpose: kill sweep
  rotation: 1y
  backup: true
YAML
  if [ -n "${5:-}" ]; then
    printf '  public_key:\n    pem: %s\n    ssh: %s\n' "$5/$3.pem" "$5/$3.ssh.pub" >> "$1"
  fi
}

# script_destroy FILE TOKEN KEY-ID KEY-LABEL
script_destroy() {
  cat > "$1" <<YAML
kind: destroy
hsm: "$(uri "$2")"
operator: alice
witnesses: [bob]
destroy:
  key: $3
  reason: kill sweep
  confirm: $4
YAML
}

# script_rotate FILE TOKEN KEY-ID NEW-LABEL
script_rotate() {
  cat > "$1" <<YAML
kind: rotate
hsm: "$(uri "$2")"
operator: alice
witnesses: [bob]
rotate:
  key: $3
  retire_on: 2099-01-01
key:
  label: $4
  type: aes-256
  owner: sweep
  purpose: kill sweep
  rotation: 1y
  backup: true
YAML
}

# script_export FILE TOKEN KEY-ID OUTPUT
script_export() {
  cat > "$1" <<YAML
kind: export
hsm: "$(uri "$2")"
so_pin_source: "file:$W/pins/$2.so"
operator: alice
witnesses: [bob]
export:
  key: $3
  recipient: partner
  recipient_key: $W/partner.pub.pem
  purpose: kill sweep
  expires: 2099-12-31
  output: $4
YAML
}

# script_backup FILE TOKEN KEY-ID BACKUP-ID
script_backup() {
  cat > "$1" <<YAML
kind: backup
hsm: "$(uri "$2")"
so_pin_source: "file:$W/pins/$2.so"
operator: alice
witnesses: [bob]
backup:
  key: $3
  id: $4
  threshold: 2
  holders: [alice, bob, carol]
  media: $W/media/$4.wrapped
  share_dir: $W/shares/$4
YAML
}

# script_restore FILE TOKEN BACKUP-ID
script_restore() {
  cat > "$1" <<YAML
kind: restore
hsm: "$(uri "$2")"
operator: alice
witnesses: [bob]
restore:
  backup: $3
  media: $W/media/$3.wrapped
  shares:
    - file: $W/shares/$3/$3-share1-alice.age
      identity: $W/keys/alice
    - file: $W/shares/$3/$3-share2-bob.age
      identity: $W/keys/bob
YAML
}

# script_reshare FILE TOKEN BACKUP-ID: alice and bob present their shares
# of the backup; it is split anew 2-of-3 to carol, bob and alice.
script_reshare() {
  cat > "$1" <<YAML
kind: reshare
hsm: "$(uri "$2")"
operator: alice
witnesses: [bob]
reshare:
  backup: $3
  reason: kill sweep
  shares:
    - file: $W/shares/$3/$3-share1-alice.age
      identity: $W/keys/alice
    - file: $W/shares/$3/$3-share2-bob.age
      identity: $W/keys/bob
  threshold: 2
  holders: [carol, bob, alice]
  share_dir: $W/shares/$3
YAML
}

# script_sign FILE TOKEN KEY-ID OUTDIR: a detached signature by the key
# over OUTDIR/payload.json (the caller writes it), raw (OUTDIR/payload.json.sig)
# and as an SSH signature (OUTDIR/payload.json.sshsig).
script_sign() {
  cat > "$1" <<YAML
kind: sign
hsm: "$(uri "$2")"
operator: alice
witnesses: [bob]
sign:
  key: $3
  purpose: kill sweep
  detached:
    file: $4/payload.json
    signature: $4/payload.json.sig
    sshsig: $4/payload.json.sshsig
    namespace: file
YAML
}

# script_sign_cert FILE TOKEN KEY-ID OUTPUT: a self-signed root certificate
# for the key (an EC or RSA pair), written to OUTPUT (PEM).
script_sign_cert() {
  cat > "$1" <<YAML
kind: sign
hsm: "$(uri "$2")"
operator: alice
witnesses: [bob]
sign:
  key: $3
  purpose: kill sweep root certificate
  root_certificate:
    subject:
      common_name: Kill Sweep Root CA
      organization: [Custos]
      country: [NL]
    not_before: 2026-12-01
    validity: 20y
    key_usage: [cert_sign, crl_sign, digital_signature]
    basic_constraints: {ca: true}
    lint_profile: rfc5280
    output: $4
YAML
}

# tokens_agree: every token's objects (by id, from pkcs11-tool) against the
# active keys the inventory places on it. Prints the differences.
tokens_agree() {
  local inv ok=0 t
  inv=$("$CUSTOS" inventory "$L" --json) || { echo "custos inventory failed"; return 1; }
  for t in "${TOKENS[@]}"; do
    local want have objs
    want=$(jq -r --arg t "$t" '.[] | select(.state == "active" and .hsm.label == $t) | .id' <<< "$inv" | sort -u)
    # The PIN on pkcs11-tool's argv is a concession of this test tool to
    # pkcs11-tool; custos itself never takes one there.
    if ! pkcs11-tool --module "$MODULE" --token-label "$t" --login --pin "$(cat "$W/pins/$t.user")" --list-objects >/dev/null 2>&1; then
      echo "token $t cannot be opened any more (SoftHSM: $(store_cut && echo "a token.object is empty: the token store was cut by the kill" || echo "see $W/tokens"))"
      ok=1
      continue
    fi
    # One line per object: ID|LABEL|CLASS|ACCESS (class: secret, private,
    # public, other).
    objs=$(pkcs11-tool --module "$MODULE" --token-label "$t" --login --pin "$(cat "$W/pins/$t.user")" --list-objects 2>/dev/null |
      awk 'function out() { if (obj != "") print (id == "" ? "no-id:" obj : id) "|" label "|" class "|" access }
           /^[A-Za-z].*[Oo]bject/ { out(); obj = $0; id = ""; label = ""; access = "";
             class = /^Secret Key/ ? "secret" : /^Private Key/ ? "private" : /^Public Key/ ? "public" : "other" }
           /^ *ID:/ { id = $2 }
           /^ *label:/ { sub(/^ *label: */, ""); label = ($0 == "<empty>" || $0 == "\047\047" ? "" : $0) }
           /^ *Access:/ { sub(/^ *Access: */, ""); access = $0 }
           END { out() }')
    have=$(cut -d'|' -f1 <<< "$objs" | sed '/^$/d' | sort -u)
    # No key object a key's secret half could leave by: every secret and
    # private key is sensitive and carries the ledger's label for its id.
    local oid olabel oclass oaccess wlabel
    while IFS='|' read -r oid olabel oclass oaccess; do
      case $oclass in secret|private) ;; *) continue ;; esac
      if ! grep -qE '(^|, )sensitive(,|$)' <<< "$oaccess"; then
        echo "token $t holds a $oclass key that is not sensitive: ${oid} (${olabel:-unlabelled}; access: $oaccess)"; ok=1
      fi
      wlabel=$(jq -r --arg t "$t" --arg id "$oid" '[.[] | select(.state == "active" and .hsm.label == $t and .id == $id) | .label][0] // empty' <<< "$inv")
      if [ -z "$olabel" ]; then
        echo "token $t holds an unlabelled $oclass key: $oid"; ok=1
      elif [ -n "$wlabel" ] && [ "$olabel" != "$wlabel" ]; then
        echo "token $t holds $oid labelled \"$olabel\", the ledger says \"$wlabel\""; ok=1
      fi
    done <<< "$objs"
    local missing extra
    missing=$(comm -23 <(echo "$want" | sed '/^$/d') <(echo "$have" | sed '/^$/d'))
    extra=$(comm -13 <(echo "$want" | sed '/^$/d') <(echo "$have" | sed '/^$/d'))
    if [ -n "$missing" ]; then echo "token $t lacks keys the ledger says it holds: $(echo $missing)"; ok=1; fi
    if [ -n "$extra" ]; then echo "token $t holds objects the ledger does not place there: $(echo $extra)"; ok=1; fi
  done
  return $ok
}

# check: every invariant after a run; prints what failed.
check() {
  local o
  if ! o=$("$CUSTOS" verify "$L" 2>&1); then echo "custos verify: $(echo "$o" | grep -m2 -E 'error|hint' | tr '\n' ' ')"; return 1; fi
  if ! o=$(git -C "$L" fsck --strict 2>&1) || grep -qiE '^(error|warning|missing|broken|bad)' <<< "$o"; then
    echo "git fsck --strict: $(echo "$o" | head -3 | tr '\n' ' ')"; return 1
  fi
  local last
  last=$("$CUSTOS" log "$L" --json 2>/dev/null | tail -1 | jq -r '"\(.kind) (record \(.seq), ceremony \(.ceremony))"')
  case $last in
    ceremony.closed*) ;;
    *) echo "the last ceremony is not closed: last record $last"; return 1 ;;
  esac
  tokens_agree || return 1
  outputs_agree || return 1
  signs_agree || return 1
}

# outputs_agree: every public key file a key.generated record names is
# there with the SHA-256 recorded, and no partial write (.NAME.incomplete)
# of one is left beside it.
outputs_agree() {
  local f sum ok=0
  while read -r f sum; do
    [ -n "$f" ] || continue
    if [ ! -f "$f" ]; then echo "the ledger records the public key file $f, which is not there"; ok=1
    elif [ "$(sha256sum "$f" | cut -d' ' -f1)" != "$sum" ]; then echo "the public key file $f is not the one recorded"; ok=1
    elif [ -e "$(dirname "$f")/.$(basename "$f").incomplete" ]; then echo "a partial write of $f is left"; ok=1
    fi
  done < <(find "$L/records" -name '*.json' -exec cat {} + | jq -r 'select(.kind == "key.generated") | .facts.public_key_files[]? | "\(.file) \(.sha256)"')
  return $ok
}


# signs_agree: every sign ceremony of the ledger is settled once (by
# key.signed or ceremony.aborted) and closed once, and each output its
# intent planned, and the half-written .NAME.incomplete beside it, that is
# there is accounted for: named by the ceremony's key.signed with the
# SHA-256 recorded (never a half-written one), or named by its
# ceremony.aborted as a file the custodians must destroy. Every output a
# key.signed records is there with its digest. A signature the ledger
# neither records nor names for destruction would be a signature made in
# secret.
signs_agree() {
  local ok=0 recs c f sum p
  # The records as committed (HEAD's tree), not as the work tree shows
  # them: a kill between the ref's move and the work tree's update leaves
  # the work tree behind.
  recs=$(git -C "$L" archive HEAD records | tar -xO | jq -sc '
    [.[] | select(.kind == "key.sign.intent" or .kind == "key.signed" or .kind == "ceremony.aborted" or .kind == "ceremony.closed")] | group_by(.ceremony)[]
    | select(any(.kind == "key.sign.intent"))
    | {ceremony: .[0].ceremony,
       settled: [.[] | select(.kind == "key.signed" or .kind == "ceremony.aborted") | .kind],
       closed: ([.[] | select(.kind == "ceremony.closed")] | length),
       planned: [.[] | select(.kind == "key.sign.intent") | .facts.outputs[]?.file],
       signed: ([.[] | select(.kind == "key.signed") | .facts.outputs] | first),
       aborted: ([.[] | select(.kind == "ceremony.aborted") | .facts.reason] | first)}')
  while read -r c; do
    [ -n "$c" ] || continue
    local name signed aborted settled
    name=$(jq -r .ceremony <<< "$c")
    signed=$(jq -c .signed <<< "$c")
    aborted=$(jq -r '.aborted // ""' <<< "$c")
    # Settled once, by key.signed or by ceremony.aborted, then closed.
    settled=$(jq -r '.settled | join(" ")' <<< "$c")
    case $settled in
      key.signed|ceremony.aborted) ;;
      "") echo "sign $name: its intent is settled by neither key.signed nor ceremony.aborted"; ok=1 ;;
      *) echo "sign $name: its intent is settled more than once: $settled"; ok=1 ;;
    esac
    [ "$(jq -r .closed <<< "$c")" = 1 ] || { echo "sign $name: not closed once ($(jq -r .closed <<< "$c") ceremony.closed)"; ok=1; }
    if [ "$signed" != null ]; then
      while read -r f sum; do
        [ -n "$f" ] || continue
        if [ ! -f "$f" ]; then echo "sign $name: key.signed records the output $f, which is not there"; ok=1
        elif [ "$(sha256sum "$f" | cut -d' ' -f1)" != "$sum" ]; then echo "sign $name: the output $f is not the one key.signed recorded"; ok=1
        fi
      done < <(jq -r '.[] | "\(.file) \(.sha256)"' <<< "$signed")
    fi
    while read -r f; do
      [ -n "$f" ] || continue
      for p in "$f" "$(dirname "$f")/.$(basename "$f").incomplete"; do
        [ -e "$p" ] || continue
        if [ "$signed" != null ] && [ "$p" = "$f" ] && jq -e --arg f "$f" 'any(.[]; .file == $f)' <<< "$signed" >/dev/null; then
          continue
        fi
        if [ -n "$aborted" ] && [[ $aborted == *"the output file $p exists and must be destroyed"* ]]; then
          continue
        fi
        if [ "$signed" != null ]; then
          echo "sign $name: $p is there, and key.signed does not record it"; ok=1
        elif [ -n "$aborted" ]; then
          echo "sign $name: $p is there, and ceremony.aborted does not name it to be destroyed"; ok=1
        else
          echo "sign $name: $p is there, and the ceremony is neither signed nor aborted"; ok=1
        fi
      done
    done < <(jq -r '.planned[]' <<< "$c")
  done <<< "$recs"
  return $ok
}
