#!/usr/bin/env bash
# Copies the googleapis .proto files that proto/ imports (shipped by googleapis-common-protos)
# into DEST, so buf can resolve them without the schema registry (unreachable here).
# usage: build/protodeps.sh SITE_PACKAGES DEST GOOGLE_PROTO...
set -euo pipefail
site=$1 dest=$2; shift 2
for f in "$@"; do
  mkdir -p "$dest/$(dirname "$f")"
  cp "$site/$f" "$dest/$f"
done
