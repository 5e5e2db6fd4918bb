#!/usr/bin/env bash
# setup.sh installs what Custos needs to build, test and demo on Debian:
# SoftHSM2 and opencryptoki (the two PKCS#11 implementations the tests run
# on), OpenSC's pkcs11-tool, git, OpenSSH, tmux, strace and a C compiler for cgo.
# As root it uses apt-get; otherwise it names the packages to install.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have softhsm2-util || need+=(softhsm2)
# opencryptoki's software token: the second module of the tests (hsm/hsmtest)
[ -x /usr/sbin/pkcsslotd ] || need+=(opencryptoki)
have pkcs11-tool   || need+=(opensc)
have git           || need+=(git)
have ssh-keygen    || need+=(openssh-client)
have tmux          || need+=(tmux)
have gcc           || need+=(gcc)
have make          || need+=(make)
have chromium      || need+=(chromium)  # renders the HTML report in tests
have pdftoppm      || need+=(poppler-utils) # pdfinfo and pdftoppm read the printed minutes in tests
have age           || need+=(age)       # independent check of encrypted shares in tests
[ -x /usr/bin/time ] || need+=(time) # GNU time: peak memory in scripts/bench-compare and bench-open
have strace        || need+=(strace)    # kills an append at every system call in tests
have jq            || need+=(jq)        # scripts/kill-sweep reads custos inventory --json
have python3       || need+=(python3)   # scripts/killat, the ptrace kill counter of scripts/kill-points
have gdb           || need+=(gdb)       # scripts/killat-pkcs11 kills custos at its PKCS#11 calls
have mkfs.vfat     || need+=(dosfstools) # FAT32 images: backups onto media as they really are, in tests
have fusefat       || need+=(fusefat)    # mounts them through FUSE (no vfat module needed)
have mkfs.exfat    || need+=(exfatprogs) # exFAT images, in tests
have mount.exfat-fuse || need+=(exfat-fuse)
if ! have go && [ ! -x /usr/local/go/bin/go ]; then
  echo "custos: error: go is not installed" >&2
  echo "custos: hint: install Go 1.26 or later from your distribution or go.dev" >&2
  exit 1
fi

# opencryptoki's module reaches its token through the pkcsslotd daemon;
# the tests start it when it is not running (hsm/hsmtest/opencryptoki.go).
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "custos: error: missing packages: ${need[*]}" >&2
  echo "custos: hint: sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "setup: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
