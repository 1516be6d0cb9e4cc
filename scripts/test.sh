#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian machine: installs what the
# tests need (Debian packages, ONNX Runtime from the npm registry), checks that
# the generated protobuf code has not drifted, then runs the Go and Python suites.
# CI runs exactly this (see .ci/run). Suites that would otherwise skip when a
# dependency is missing are made mandatory here through AGIQA_REQUIRE_* variables.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

need_debs=(protobuf-compiler libturbojpeg0 python3-torch python3-torchvision python3-onnx
  python3-pytest python3-scipy python3-pil python3-numpy python3-openpyxl python3-regex time procps
  octave octave-image libsvm-tools python3-venv chromium)
missing=()
for p in "${need_debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== ONNX Runtime shared library"
"$root/scripts/install-ort.sh"
export AGIQA_ORT_LIB="$root/.tools/ort/libonnxruntime.so.1"

echo "== reference Python packages (transformers, open_clip, ImageReward, ...)"
"$root/scripts/install-pyoracles.sh"

echo "== generated protobuf code is up to date"
"$root/scripts/gen-proto.sh"
if ! git diff --exit-code --stat -- client/inferencepb; then
  echo "client/inferencepb differs from what scripts/gen-proto.sh generates: run it and commit" >&2
  exit 1
fi

echo "== gofmt, go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' | grep -v '\.pb\.go$'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
go vet ./...

# Tests that need ../shared, ONNX Runtime, libturbojpeg, Python or POSIX facilities (/dev/shm,
# named pipes, /dev/full, a lowerable file-size limit) fail instead of skipping.
export AGIQA_REQUIRE_SHARED=1 AGIQA_REQUIRE_ORT=1 AGIQA_REQUIRE_PYTHON=1 AGIQA_REQUIRE_TURBO=1 AGIQA_REQUIRE_POSIX=1 AGIQA_REQUIRE_OCTAVE=1 AGIQA_REQUIRE_LIBSVM=1 AGIQA_REQUIRE_CHROMIUM=1
export AGIQA_PYTHON="$root/.tools/pyoracles/bin/python"
# The report test renders report.html in headless Chromium; CI keeps the screenshot here.
export AGIQA_SCREENSHOT_DIR="$root/out/ci"

echo "== Go tests"
go test -count=1 ./...

echo "== fuzz targets, briefly"
"$root/scripts/fuzz-brief.sh"

echo "== Python tests"
(cd modelrepo/python && "$AGIQA_PYTHON" -m pytest -q tests)
