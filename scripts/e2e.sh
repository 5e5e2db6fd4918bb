#!/usr/bin/env bash
# e2e.sh: end-to-end checks outside `go test`: the demo runs from scratch and
# its ledger passes both custos verify and the stock git + OpenSSH check.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/custos ./cmd/custos
passed=0
scripts/demo.sh > /tmp/custos-demo.log 2>&1 || { cat /tmp/custos-demo.log; echo "e2e: demo failed" >&2; exit 1; }
[ -d demo/ledger/.git ] || { echo "e2e: the demo made no ledger in demo/ledger" >&2; exit 1; }
bin/custos verify demo/ledger
scripts/stock-verify demo/ledger
bin/custos check demo/ledger > /dev/null
passed=$((passed + 1))
# The workspace moves whole: from a copy elsewhere, a new ceremony runs on
# its token and the ledger still verifies.
moved=$(mktemp -d)/custos-demo-moved
cp -a demo "$moved"
rm -rf demo
(
  # shellcheck source=/dev/null
  . "$moved/env.sh"
  [ "$PWD" = "$moved" ]
  sed -e 's/^ceremony: .*/ceremony: kek-moved/' -e 's/label: kek-2026/label: kek-moved/' scripts/generate-kek.yaml > scripts/generate-moved.yaml
  "$OLDPWD/bin/custos" run scripts/generate-moved.yaml --ledger ledger --key alice=keys/alice --key bob=keys/bob
  "$OLDPWD/bin/custos" verify ledger
  grep -q 'kek-moved .* active' <<< "$("$OLDPWD/bin/custos" inventory ledger)"
) > /tmp/custos-moved.log 2>&1 || { cat /tmp/custos-moved.log; echo "e2e: the moved demo workspace does not work" >&2; exit 1; }
mv "$moved" demo
passed=$((passed + 1))
echo "e2e: $passed passed, 0 failed"
