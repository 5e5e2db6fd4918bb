# demo-ledger.sh is sourced by demo.sh once the token exists: the ledger
# story, a key's whole life. Three members — alice (custodian), bob and
# carol (security officers, who also hold backup shares) — found a ledger,
# enrol the demo HSM, generate a KEK and a root key, export the KEK to a
# partner with a 2-of-2 quorum (carol approves from "another workstation"
# through a request file), back the KEK up 2-of-3, check a share, destroy
# the root, restore the KEK into a fresh disaster-recovery token from two
# shares, rotate it, add a member (dave), sign an access review, verify
# the ledger with custos and with stock git + OpenSSH, and test it against
# the key-management controls (custos check: every one passes).

for m in alice bob carol dave; do
  ssh-keygen -q -t ed25519 -N "" -C "$m" -f "$DEMO/keys/$m"
done
# the partner's RSA-3072 recipient key, as a PEM PUBLIC KEY
ssh-keygen -q -t rsa -b 3072 -N "" -C partner -f "$DEMO/keys/partner-bank"
ssh-keygen -e -m PKCS8 -f "$DEMO/keys/partner-bank.pub" > "$DEMO/partner-bank.pub.pem"

mkdir -p "$DEMO/scripts"
URI="pkcs11:token=custos-demo?module-path=$MODULE&pin-source=file:pins/user"
cat > "$DEMO/roster.yaml" <<YAML
# The founding roster and policy of the demo ledger.
members:
  - name: alice
    roles: [custodian]
    key: $(cat "$DEMO/keys/alice.pub")
  - name: bob
    roles: [officer, custodian]
    key: $(cat "$DEMO/keys/bob.pub")
  - name: carol
    roles: [officer, custodian]
    key: $(cat "$DEMO/keys/carol.pub")
policy:
  approvals:
    hsm.enrolled: {roles: [officer], count: 1}
    key.generate.intent: {roles: [officer], count: 1}
    key.export.intent: {roles: [officer], count: 2}
    key.destroy.intent: {roles: [officer], count: 1}
    backup.intent: {roles: [officer], count: 1}
    key.restore.intent: {roles: [officer], count: 1}
    roster.changed: {roles: [officer], count: 2, self_approval: true}
  algorithms: [aes-256, rsa-3072, rsa-4096, ec-p256, ec-p384, ed25519]
YAML
cat > "$DEMO/scripts/enroll.yaml" <<YAML
kind: enroll
ceremony: enroll-demo-hsm
hsm: "$URI"
operator: alice
witnesses: [bob]
YAML
cat > "$DEMO/scripts/generate-kek.yaml" <<YAML
kind: generate
ceremony: kek-2026
hsm: "$URI"
operator: alice
witnesses: [bob]
key:
  label: kek-2026
  type: aes-256
  owner: payments (bob)
  purpose: wraps the payment data keys
  rotation: 1y
  exportable: true
  backup: true
  environment: production
  classification: confidential
YAML
cat > "$DEMO/scripts/generate-root.yaml" <<YAML
kind: generate
ceremony: root-2026
hsm: "$URI"
operator: alice
witnesses: [bob]
key:
  label: root-2026
  type: ec-p384
  owner: pki (carol)
  purpose: signs the issuing CAs
  rotation: 5y
  public_key:                 # the public key, written out and read back; each file's SHA-256 is recorded
    pem: root-2026.pub.pem    # SubjectPublicKeyInfo (openssl pkey -pubin -in …)
    ssh: root-2026.ssh.pub    # OpenSSH form (ssh-keygen -l -f …)
YAML
cat > "$DEMO/scripts/export-kek.yaml" <<YAML
kind: export
ceremony: kek-2026-export
hsm: "$URI"
so_pin_source: "file:pins/so"
operator: alice
witnesses: [bob]
export:
  key: kek-2026
  recipient: partner-bank
  recipient_key: partner-bank.pub.pem
  purpose: shared KEK for the settlement link
  expires: 2027-02-28       # before the KEK retires (2027-03-01): custos check tests it
  output: kek-2026.partner-bank.wrapped
YAML
cat > "$DEMO/scripts/destroy-root.yaml" <<YAML
kind: destroy
ceremony: root-2026-destroy
hsm: "$URI"
operator: alice
witnesses: [bob]
destroy:
  key: root-2026
  reason: demo — superseded
  confirm: root-2026
YAML

K="--key alice=$DEMO/keys/alice --key bob=$DEMO/keys/bob"
step "custos init demo/ledger (every founding member signs the genesis)"
"$CUSTOS" init "$DEMO/ledger" --roster "$DEMO/roster.yaml" $K --key carol="$DEMO/keys/carol" | tee "$DEMO/genesis.txt"
GENESIS=$(sed -n 's/^genesis digest: //p' "$DEMO/genesis.txt")

step "enrol the demo HSM (approved by bob, a security officer)"
"$CUSTOS" run "$DEMO/scripts/enroll.yaml" --ledger "$DEMO/ledger" $K

step "generate an AES-256 KEK and an EC P-384 root key inside the HSM"
"$CUSTOS" run "$DEMO/scripts/generate-kek.yaml" --ledger "$DEMO/ledger" $K
"$CUSTOS" run "$DEMO/scripts/generate-root.yaml" --ledger "$DEMO/ledger" $K

step "export the KEK to partner-bank: 2-of-2 officers; carol approves from elsewhere"
"$CUSTOS" run "$DEMO/scripts/export-kek.yaml" --ledger "$DEMO/ledger" --key alice="$DEMO/keys/alice" --request-out "$DEMO/export.req"
"$CUSTOS" approve "$DEMO/export.req" --ledger "$DEMO/ledger" --key carol="$DEMO/keys/carol" -o "$DEMO/export.carol.sig" --yes
"$CUSTOS" run "$DEMO/scripts/export-kek.yaml" --ledger "$DEMO/ledger" $K --request "$DEMO/export.req" --approval "$DEMO/export.carol.sig"

step "destroy the root key, verifying its absence"
"$CUSTOS" run "$DEMO/scripts/destroy-root.yaml" --ledger "$DEMO/ledger" $K

cat > "$DEMO/scripts/backup-kek.yaml" <<YAML
kind: backup
ceremony: kek-2026-backup
hsm: "$URI"
so_pin_source: "file:pins/so"
operator: alice
witnesses: [bob]
backup:
  key: kek-2026
  id: kek-2026.bk1
  threshold: 2
  holders: [alice, bob, carol]
  media: media/kek-2026.bk1.wrapped
  share_dir: shares
  cards: true
YAML
mkdir -p "$DEMO/media" "$DEMO/cards/alice" "$DEMO/cards/bob" "$DEMO/cards/carol"
step "back the KEK up: wrapping key split 2-of-3 among alice, bob and carol; every share read back; each card where its holder says"
# Each holder names where their card goes; here, a folder of their own
# (their removable medium). At a terminal, custos asks each in turn.
"$CUSTOS" run "$DEMO/scripts/backup-kek.yaml" --ledger "$DEMO/ledger" $K \
  --card-to alice="$DEMO/cards/alice/kek-2026.bk1.card" --card-to bob="$DEMO/cards/bob/kek-2026.bk1.card" \
  --card-to carol="$DEMO/cards/carol/kek-2026.bk1.card"

step "carol checks her share (the periodic share check auditors ask for)"
"$CUSTOS" share-check "$DEMO/shares/kek-2026.bk1-share3-carol.age" --ledger "$DEMO/ledger" --backup kek-2026.bk1 \
  --holder carol --identity "$DEMO/keys/carol" --key carol="$DEMO/keys/carol"

step "a fresh token, custos-dr, is initialised and enrolled"
head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DEMO/pins/dr-user"
head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DEMO/pins/dr-so"
"$CUSTOS" hsm init-token --module "$MODULE" --label custos-dr \
  --so-pin-source "file:$DEMO/pins/dr-so" --pin-source "file:$DEMO/pins/dr-user"
DR="pkcs11:token=custos-dr?module-path=$MODULE&pin-source=file:pins/dr-user"
cat > "$DEMO/scripts/enroll-dr.yaml" <<YAML
kind: enroll
ceremony: enroll-dr-hsm
hsm: "$DR"
operator: alice
witnesses: [bob]
YAML
"$CUSTOS" run "$DEMO/scripts/enroll-dr.yaml" --ledger "$DEMO/ledger" $K

cat > "$DEMO/scripts/restore-kek.yaml" <<YAML
kind: restore
ceremony: kek-2026-restore
hsm: "$DR"
operator: alice
witnesses: [bob]
restore:
  backup: kek-2026.bk1
  media: media/kek-2026.bk1.wrapped
  shares:
    - file: shares/kek-2026.bk1-share2-bob.age
      identity: keys/bob
    - file: cards/carol/kek-2026.bk1.card
YAML
step "restore the KEK into custos-dr (disaster recovery) from bob's and carol's shares; its check value must match"
"$CUSTOS" run "$DEMO/scripts/restore-kek.yaml" --ledger "$DEMO/ledger" $K

cat > "$DEMO/scripts/rotate-kek.yaml" <<YAML
kind: rotate
ceremony: kek-2027-rotation
hsm: "$DR"
operator: alice
witnesses: [bob]
rotate:
  key: kek-2026
  retire_on: 2027-03-01
key:
  label: kek-2027
  type: aes-256
  owner: payments (bob)
  purpose: wraps the payment data keys
  rotation: 1y
  backup: true
YAML
step "rotate the KEK: kek-2027 is generated, kek-2026 scheduled for retirement"
"$CUSTOS" run "$DEMO/scripts/rotate-kek.yaml" --ledger "$DEMO/ledger" $K

cat > "$DEMO/scripts/roster-add-dave.yaml" <<YAML
kind: roster
ceremony: roster-2026-12
operator: bob
roster:
  add:
    - name: dave
      roles: [officer]
      key: "$(cat "$DEMO/keys/dave.pub")"
  reason: dave joins the security team
YAML
step "roster change: dave joins, approved by both officers under the old roster"
"$CUSTOS" run "$DEMO/scripts/roster-add-dave.yaml" --ledger "$DEMO/ledger" --key bob="$DEMO/keys/bob" --key carol="$DEMO/keys/carol"

cat > "$DEMO/scripts/review.yaml" <<YAML
kind: review
ceremony: review-2026-q4
operator: dave
review:
  period: 2026-Q4
  findings: roster matches the HR records; kek-2026 retires on 2027-03-01
YAML
step "access review signed by dave, the new security officer"
"$CUSTOS" run "$DEMO/scripts/review.yaml" --ledger "$DEMO/ledger" --key dave="$DEMO/keys/dave"

step "custos log demo/ledger"
"$CUSTOS" log "$DEMO/ledger"

step "custos verify demo/ledger --genesis $GENESIS"
"$CUSTOS" verify "$DEMO/ledger" --genesis "$GENESIS"

step "stock git + OpenSSH: scripts/stock-verify demo/ledger"
"$ROOT/scripts/stock-verify" "$DEMO/ledger"

step "custos inventory demo/ledger"
"$CUSTOS" inventory "$DEMO/ledger"

step "custos check demo/ledger: the key-management controls (docs/controls.md)"
"$CUSTOS" check "$DEMO/ledger"

step "the evidence report for auditors: demo/report.html"
"$CUSTOS" report "$DEMO/ledger" -o "$DEMO/report.html" --format html

echo
echo "the ledger is in demo/ledger; the scripts that made it are in demo/scripts/;"
echo "the evidence report is demo/report.html"
