#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and PyTorch with CUDA: exports every model of the tables (IP-IQA, the
# ResNet50 rows, CLIP-IQA, CNNIQA, DBCNN, HyperIQA) at full size with random weights and prints, one JSON
# line per model, eager fp32 / fp16 images/s at the served size, batch 32, with the card's name.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$(mktemp -d)}
cd "$root/modelrepo/python"
python3 -m agiqa_torch.gpubench --out "$out" --device cuda --batch 32 --iters 20 --warmup 5 --model all
echo "exported to $out: serve it with agiqa serve --repo $out, or Triton" >&2
