#!/usr/bin/env bash
# Fetches ONNX Runtime's CPU shared library from the onnxruntime-node npm package
# (the only registry that ships it here) into .tools/ort/. Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ORT_NPM_VERSION=1.30.0
dest="$root/.tools/ort"
lib="$dest/libonnxruntime.so.1"
if [ -f "$lib" ] && [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$ORT_NPM_VERSION" ]; then
  exit 0
fi
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_NPM_VERSION" >/dev/null)
tar -xzf "$tmp"/onnxruntime-node-*.tgz -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
cp "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$lib"
echo "$ORT_NPM_VERSION" > "$dest/VERSION"
echo "installed ONNX Runtime $ORT_NPM_VERSION at $lib"
