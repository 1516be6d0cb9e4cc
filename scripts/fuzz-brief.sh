#!/usr/bin/env bash
# Runs every fuzz target of the repository briefly (FUZZTIME each, default 5s): the decoders of untrusted
# bytes (configs, label files, images, tensors, cache lines, requests). The seed corpora already run in
# `go test ./...`; this explores beyond them. Targets are found by name, so a new FuzzXxx joins by itself.
# A crasher is written under the package's testdata/fuzz/ and fails this script.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fuzztime=${FUZZTIME:-5s}
n=0
while IFS=: read -r file name; do
  pkg=./$(dirname "$file")
  echo "== fuzz $pkg $name ($fuzztime)"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel 2 "$pkg"
  n=$((n + 1))
done < <(git ls-files '*_test.go' | xargs grep -H -o '^func Fuzz[A-Za-z0-9_]*' | sed 's/:func /:/' | sort)
echo "== $n fuzz targets ran for $fuzztime each"
