#!/usr/bin/env bash
# demo.sh runs the Custos demo story on a throwaway SoftHSM2 token.
# Everything lives under ./demo so a newcomer can look inside and re-run it;
# each run starts the workspace afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CUSTOS=${CUSTOS_BIN:-$ROOT/bin/custos}
DEMO=${CUSTOS_DEMO_DIR:-$ROOT/demo} # tests build the demo elsewhere
MODULE=${CUSTOS_PKCS11_MODULE:-}
if [ -z "$MODULE" ]; then
  for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
    [ -e "$m" ] && MODULE=$m && break
  done
fi
[ -n "$MODULE" ] || { echo "custos: error: softhsm2 module not found" >&2; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$DEMO"
mkdir -p "$DEMO/tokens" "$DEMO/pins" "$DEMO/keys"
chmod 700 "$DEMO/pins" "$DEMO/keys"
DEMO=$(cd "$DEMO" && pwd)
# Every path written into the workspace (SoftHSM's token directory, the
# scripts' files, the PIN sources) is relative to it, and custos runs from
# inside it: the workspace can be moved or copied whole, and is used from
# wherever it is with `. demo/env.sh`.
cd "$DEMO"

step "SoftHSM workspace: demo/softhsm2.conf, tokens in demo/tokens"
cat > "$DEMO/softhsm2.conf" <<CONF
directories.tokendir = tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
export SOFTHSM2_CONF=$DEMO/softhsm2.conf
export CUSTOS_PKCS11_MODULE=$MODULE
cat > "$DEMO/env.sh" <<ENV
# . demo/env.sh: use the demo workspace from wherever it now is. Moves the
# shell into the workspace (its paths are relative to it) and points
# SoftHSM at its token store.
cd "\$(dirname "\${BASH_SOURCE[0]}")" || return
export SOFTHSM2_CONF=\$PWD/softhsm2.conf
export CUSTOS_PKCS11_MODULE=\${CUSTOS_PKCS11_MODULE:-$MODULE}
ENV

# Random PINs in files of mode 0600. custos reads them through the URI's
# pin-source; they never appear on its command line.
umask 077
for p in user so; do
  head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DEMO/pins/$p"
done
# custos reads the new PINs from the files (softhsm2-util would want them
# on its command line, where other users can read them).
"$CUSTOS" hsm init-token --module "$MODULE" --label custos-demo \
  --so-pin-source "file:$DEMO/pins/so" --pin-source "file:$DEMO/pins/user"
echo "PINs in demo/pins/ (mode 0600)"

step "custos hsm info --module $MODULE"
"$CUSTOS" hsm info --module "$MODULE"

if [ -f "$ROOT/scripts/demo-ledger.sh" ]; then
  # shellcheck source=/dev/null
  . "$ROOT/scripts/demo-ledger.sh"
fi

step "done: the workspace is in demo/"
