#!/usr/bin/env bash
# Builds .tools/pyoracles: a venv over Debian's python3 (which carries torch, numpy, scipy, onnx)
# holding the pinned reference implementations of modelrepo/python/requirements-oracles.txt.
# --no-deps keeps pip from replacing Debian's torch with PyPI's multi-GB CUDA build. Idempotent:
# rebuilt only when the requirements file changes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
req="$root/modelrepo/python/requirements-oracles.txt"
venv="$root/.tools/pyoracles"
stamp="$venv/requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
rm -rf "$venv"
/usr/bin/python3 -m venv --system-site-packages "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$req"
echo "$want" > "$stamp"
echo "installed reference packages at $venv"
