#!/usr/bin/env bash
# The bootstrap repository testdata/os builds against, made with melange2-orch itself:
#   - busybox for x86_64 and aarch64, from the static busybox binaries scripts/setup provides
#     (/bin/busybox and .tools/arm64/busybox), providing cmd:<applet> for every applet;
#   - cycle-a and cycle-b 0.9.0: the "published before" versions that the bootstrap cycle
#     policy builds the cycle-a ⇄ cycle-b pair against.
# Everything is signed with KEY (created when missing, as build-all does).
#
# usage (from the repository root, after `npx nx run-many -t build`):
#   testdata/os/bootstrap.sh [OUT_DIR=.melange2/bootstrap-os] [KEY=.melange2/melange.rsa]
#   npx melange2-orch build-all testdata/os --repository-append .melange2/bootstrap-os
set -euo pipefail
OUT=${1:-.melange2/bootstrap-os}
KEY=${2:-.melange2/melange.rsa}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
m2() { node "$ROOT/apps/cli/bin/melange2-orch.js" "$@"; }

if [ ! -f "$KEY" ]; then
  mkdir -p "$(dirname "$KEY")"
  m2 keygen --name "$(basename "$KEY" .rsa)" --key-size 2048 --dir "$(dirname "$KEY")" >/dev/null
  echo "created signing key $KEY"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
applets="$(/bin/busybox --list-full | grep -v '\[')"
provides="$(for a in $applets; do echo "cmd:${a##*/}=1.35.0-r0"; done | sort -u | paste -sd, -)"
mkdir -p "$work/empty"
for arch in x86_64 aarch64; do
  bin=/bin/busybox
  [ "$arch" = aarch64 ] && bin="$ROOT/.tools/arm64/busybox"
  [ -x "$bin" ] || { echo "bootstrap.sh: $bin is missing (run scripts/setup)" >&2; exit 3; }
  tree="$work/$arch"
  mkdir -p "$tree/bin" "$OUT/$arch"
  cp "$bin" "$tree/bin/busybox"
  for a in $applets; do
    mkdir -p "$tree/$(dirname "$a")"
    [ -e "$tree/$a" ] || ln -s /bin/busybox "$tree/$a"
  done
  m2 pack "$tree" --name busybox --version 1.35.0-r0 --arch "$arch" --provides "$provides" \
    --description "static busybox (bootstrap)" --signing-key "$KEY" --source-date-epoch 0 \
    -o "$OUT/$arch/busybox-1.35.0-r0.apk"
  for p in cycle-a cycle-b; do
    m2 pack "$work/empty" --name "$p" --version 0.9.0-r0 --arch "$arch" \
      --description "$p published before (bootstrap)" --signing-key "$KEY" --source-date-epoch 0 \
      -o "$OUT/$arch/$p-0.9.0-r0.apk"
  done
  m2 index "$OUT/$arch"/*.apk -o "$OUT/$arch/APKINDEX.tar.gz" --signing-key "$KEY"
done
echo "bootstrap repository: $OUT (x86_64, aarch64)"
