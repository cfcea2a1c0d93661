#!/usr/bin/env bash
# Regenerates OUT (default generated/) from proto/: Python modules, .pyi stubs, gRPC stubs,
# the descriptor set Envoy's transcoder loads (with imports, google/rpc/* included), and the OpenAPI
# document of every REST route (build/openapi.py, from a descriptor set that keeps the comments).
# usage: build/generate.sh PYTHON SITE_PACKAGES OUT GOOGLE_PROTO...
set -euo pipefail
py=$1 site=$2 out=$3; shift 3
rm -rf "$out/userservice" "$out/userservice.pb" "$out/openapi.json"
mkdir -p "$out"
protos=(proto/userservice/v1/*.proto)
"$py" -m grpc_tools.protoc -I proto -I "$site" \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" "${protos[@]}"
"$py" -m grpc_tools.protoc -I proto -I "$site" --include_imports \
  --descriptor_set_out="$out/userservice.pb" "${protos[@]}" "$@"
touch "$out/userservice/__init__.py" "$out/userservice/v1/__init__.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" -m grpc_tools.protoc -I proto -I "$site" --include_imports --include_source_info \
  --descriptor_set_out="$tmp/with_comments.pb" "${protos[@]}" "$@"
"$py" build/openapi.py "$tmp/with_comments.pb" "$out/openapi.json"
