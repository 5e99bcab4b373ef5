#!/usr/bin/env bash
# The GPU proof of issue 12, in one command for the lent GPU machine (H200; Python 3.12 with
# torch, transformers and accelerate, no diffusers/PyAV/server packages, no network).
#
# Here, once:   benchmarks/device/fetch_wheels.sh        (fills .whl/, about 55 MiB)
# Then, with the device tool:
#   run(command="bash benchmarks/device/run_gpu.sh", carry=[".whl"], timeout_s=600)
# It installs the carried wheels into /tmp/site, builds the full-size Wan 2.1 T2V 1.3B with
# random weights on the GPU and runs benchmarks/gpu_t2v.py within BUDGET_S seconds (speed-up
# rows that would not leave time for the openkling rows are skipped and say so). The table is
# printed last; the JSON and the log land in $OUT.
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
  --options "${OPTIONS:-cache,cudnn,compile}" --budget-s "${BUDGET_S:-520}" \
  --data-dir /tmp/openkling-gpu --json "$OUT/gpu_t2v.json" 2>&1 | tee "$OUT/gpu_t2v.log"
