#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and PyTorch with CUDA: exports every model of the tables (IP-IQA, the
# ResNet50 rows, CLIP-IQA, CLIP-IQA+, CNNIQA, DBCNN, HyperIQA) at full size with random weights and prints,
# one JSON line per model, eager fp32 / fp16 images/s at the served size, batch 32, with the card's name,
# and the exported model.onnx's images/s in ONNX Runtime's CUDA execution provider (what Triton's
# onnxruntime backend runs), then a one-line-per-model summary. The JSON lines are kept in
# OUT/gpubench.jsonl.
#
#   scripts/gpu-check.sh [--install-ort-gpu] [OUT]
#
# ONNX Runtime timing needs the onnxruntime Python package built with CUDA (onnxruntime-gpu). The trainer
# image (modelrepo/python/Dockerfile) carries the CPU build, which has no CUDA provider; where the
# provider is missing each JSON line says so under "ort_skipped" and the summary prints the reason.
# --install-ort-gpu pip-installs onnxruntime-gpu (ORT_GPU_VERSION, default 1.20.1: CUDA 12 and cuDNN 9, as
# the trainer image's PyTorch) into OUT-ort-gpu (beside OUT: Triton would take a folder inside it for a
# model), ahead of any CPU build on PYTHONPATH, and then requires
# the CUDA provider to load (gpubench --ort require).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
install_ort=0
if [[ ${1:-} == --install-ort-gpu ]]; then
	install_ort=1
	shift
fi
out=${1:-$(mktemp -d)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
python=${PYTHON:-python3}
ort_mode=auto
if ((install_ort)); then
	"$python" -m pip install --quiet --no-deps --target "$out-ort-gpu" "onnxruntime-gpu==${ORT_GPU_VERSION:-1.20.1}"
	export PYTHONPATH="$out-ort-gpu${PYTHONPATH:+:$PYTHONPATH}"
	ort_mode=require
fi
cd "$root/modelrepo/python"
"$python" - <<'PY' >&2 || true
try:
    import onnxruntime as ort
    have = ort.get_available_providers()
    if "CUDAExecutionProvider" in have:
        print(f"gpu-check: onnxruntime {ort.__version__} with CUDAExecutionProvider: the exported files are timed on the GPU")
    else:
        print(f"gpu-check: onnxruntime {ort.__version__} has only {have}: ONNX Runtime timing is skipped "
              "(rerun with --install-ort-gpu for onnxruntime-gpu)")
except ImportError:
    print("gpu-check: no onnxruntime Python package: ONNX Runtime timing is skipped "
          "(rerun with --install-ort-gpu for onnxruntime-gpu)")
PY
"$python" -m agiqa_torch.gpubench --out "$out" --device cuda --batch 32 --iters 20 --warmup 5 --model all \
	--ort "$ort_mode" | tee "$out/gpubench.jsonl"
"$python" - "$out/gpubench.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    ort = (f"ORT {r['ort_images_per_s']:.1f}/s ({r['ort_provider']}, max |ORT - eager| {r['ort_max_abs_diff']:.1e})"
           if "ort_images_per_s" in r else "ORT skipped: " + r.get("ort_skipped", "--ort off"))
    print(f"{r['model'].split(' ')[0]:14s} {r['image_size']:4d}px  eager fp32 {r['fp32_images_per_s']:.1f}/s  "
          f"fp16 {r.get('fp16_images_per_s', float('nan')):.1f}/s  {ort}  [{r['card']}]")
PY
echo "exported to $out: serve it with agiqa serve --repo $out, or Triton" >&2
