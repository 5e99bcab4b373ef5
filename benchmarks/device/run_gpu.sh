#!/usr/bin/env bash
# The GPU proof of issue 12, in one command for the lent GPU machine (H200; Python 3.12 with
# torch, transformers and accelerate, no diffusers/PyAV/server packages, no network).
#
# Here, once:   benchmarks/device/fetch_wheels.sh        (fills .whl/, about 55 MiB)
# Then, with the device tool:
#   run(command="bash benchmarks/device/run_gpu.sh", carry=[".whl"], timeout_s=600)
# It installs the carried wheels into /tmp/site, builds the full-size Wan 2.1 T2V 1.3B with
# random weights on the GPU and runs benchmarks/gpu_t2v.py within BUDGET_S seconds (speed-up
# rows that would not leave time for the openkling rows are skipped and say so). Then, in a
# second process (so a cut-off cannot lose the text2video rows), the image2video row (Wan 2.2
# TI2V 5B, 1280x704, 121 frames, at I2V_STEPS=10, not the 30/50 openkling uses: a step there
# costs several times a 1.3B step) and the image row (SDXL base 1.0, 1024x1024, n=1, at
# IMAGE_STEPS=30), both random full-size builds, direct only; BUDGET_S leaves them about
# 200 s. Each table is printed last; the JSONs and the logs land in $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/openkling-gpu-out}"
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site:$PWD/src"
else
  export PYTHONPATH="$PWD/src"
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import torch, diffusers, transformers, av; print('torch', torch.__version__, \
'diffusers', diffusers.__version__, 'transformers', transformers.__version__, 'av', \
av.__version__, 'cuda', torch.cuda.is_available())" || exit 1
python3 benchmarks/gpu_t2v.py --model random-wan2.1-1.3b --device cuda \
  --steps "${STEPS:-20,50}" --speedup-steps "${SPEEDUP_STEPS:-20}" \
  --options "${OPTIONS:-cache,cudnn,compile}" --budget-s "${BUDGET_S:-380}" --families t2v \
  --data-dir /tmp/openkling-gpu --json "$OUT/gpu_t2v.json" 2>&1 | tee "$OUT/gpu_t2v.log"
python3 benchmarks/gpu_t2v.py --device cuda --families "${FAMILIES:-i2v,images}" \
  --i2v-steps "${I2V_STEPS:-10}" --image-steps "${IMAGE_STEPS:-30}" \
  --data-dir /tmp/openkling-gpu-families --json "$OUT/gpu_families.json" 2>&1 \
  | tee "$OUT/gpu_families.log"
