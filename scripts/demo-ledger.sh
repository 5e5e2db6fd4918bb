# demo-ledger.sh is sourced by demo.sh once the token exists: the ledger
# story. Three members — alice (custodian), bob and carol (security
# officers) — found a ledger, enrol the demo HSM, generate a KEK and a root
# key, export the KEK to a partner with a 2-of-2 quorum (carol approves from
# "another workstation" through a request file), destroy the root, and the
# ledger is verified with custos and with stock git + OpenSSH.

for m in alice bob carol; do
  ssh-keygen -q -t ed25519 -N "" -C "$m" -f "$DEMO/keys/$m"
done
# the partner's RSA-3072 recipient key, as a PEM PUBLIC KEY
ssh-keygen -q -t rsa -b 3072 -N "" -C partner -f "$DEMO/keys/partner-bank"
ssh-keygen -e -m PKCS8 -f "$DEMO/keys/partner-bank.pub" > "$DEMO/partner-bank.pub.pem"

mkdir -p "$DEMO/scripts"
URI="pkcs11:token=custos-demo?module-path=$MODULE&pin-source=file:$DEMO/pins/user"
cat > "$DEMO/roster.yaml" <<YAML
# The founding roster and policy of the demo ledger.
members:
  - name: alice
    roles: [custodian]
    key: $(cat "$DEMO/keys/alice.pub")
  - name: bob
    roles: [officer]
    key: $(cat "$DEMO/keys/bob.pub")
  - name: carol
    roles: [officer]
    key: $(cat "$DEMO/keys/carol.pub")
policy:
  approvals:
    hsm.enrolled: {roles: [officer], count: 1}
    key.generate.intent: {roles: [officer], count: 1}
    key.export.intent: {roles: [officer], count: 2}
    key.destroy.intent: {roles: [officer], count: 1}
    roster.changed: {roles: [officer], count: 2}
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
  owner: payments
  purpose: wraps the payment data keys
  rotation: 1y
  exportable: true
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
  owner: pki
  purpose: signs the issuing CAs
  rotation: 5y
YAML
cat > "$DEMO/scripts/export-kek.yaml" <<YAML
kind: export
ceremony: kek-2026-export
hsm: "$URI"
so_pin_source: "file:$DEMO/pins/so"
operator: alice
witnesses: [bob]
export:
  key: kek-2026
  recipient: partner-bank
  recipient_key: $DEMO/partner-bank.pub.pem
  purpose: shared KEK for the settlement link
  expires: 2099-12-31
  output: $DEMO/kek-2026.partner-bank.wrapped
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
"$CUSTOS" approve "$DEMO/export.req" --key carol="$DEMO/keys/carol" -o "$DEMO/export.carol.sig"
"$CUSTOS" run "$DEMO/scripts/export-kek.yaml" --ledger "$DEMO/ledger" $K --request "$DEMO/export.req" --approval "$DEMO/export.carol.sig"

step "destroy the root key, verifying its absence"
"$CUSTOS" run "$DEMO/scripts/destroy-root.yaml" --ledger "$DEMO/ledger" $K

step "custos log demo/ledger"
"$CUSTOS" log "$DEMO/ledger"

step "custos verify demo/ledger --genesis $GENESIS"
"$CUSTOS" verify "$DEMO/ledger" --genesis "$GENESIS"

step "stock git + OpenSSH: scripts/stock-verify demo/ledger"
"$ROOT/scripts/stock-verify" "$DEMO/ledger"

echo
echo "the ledger is in demo/ledger; the scripts that made it are in demo/scripts/"
