#!/usr/bin/env bash
# Issue 4 item 10, on a machine with an NVIDIA GPU and PyTorch with CUDA: exports the full-size IP-IQA
# with random weights and prints eager fp32 / fp16 images/s at 512 px, batch 32, with the card's name.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$(mktemp -d)}
cd "$root/modelrepo/python"
python3 -m agiqa_torch.gpubench --out "$out" --device cuda --batch 32 --iters 20 --warmup 5
echo "exported to $out: serve it with agiqa serve --repo $out, or Triton" >&2
