#!/usr/bin/env bash
# The GPU proof of issues 12 and 22, in one command for the lent GPU machine (H200; Python 3.12 with
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
# Issue 22: every full-size random text-to-video model of the catalogue at 480p / 5 s (Kling's
# 16:9 request: 832x480, 81 frames at 16 fps), each in its own process under its own time
# limit so that the whole call stays inside 10 minutes (about 560 s of work): direct seconds
# per clip and peak memory, the speed-ups (first-block cache; cuDNN attention for 1.3B) as a
# ratio to plain, and the same request through `openkling serve` (ratio to direct). A row
# that would not fit its budget is skipped and says so; each JSON is rewritten per row.
#   1. random-wan2.1-1.3b    at 20 steps                       (limit T13_S, 155 s)
#   2. random-wan2.2-a14b    at A14B_STEPS=10 (published: 40)  (limit A14B_S, 210 s;
#      two 14B experts + UMT5-XXL, about 64 GiB of weights in bfloat16: an 80 GB card)
#   3. random-ltx2 (LTX-2 19B + Gemma 3 12B, video with sound, about 65 GiB of weights)
#      at LTX2_STEPS=8 (its pipeline's own: 30), 832x480, 121 frames at 24 fps; direct only
#      (seconds per clip, peak memory, the MP4's audio stream), with vae_tiling=true
#      (LTX2_SET): an untiled decode of 121 frames would not fit beside the weights on an
#      80 GB card                                              (limit LTX2_S, 110 s)
#   4. image2video (TI2V 5B) and images (SDXL), direct only    (limit FAM_S, 85 s)
# None of these limits has been timed on a GPU since row 3 came in: a row cut off by its
# limit says so in its log, and the rows after it still run.
timeout "${T13_S:-155}" python3 benchmarks/gpu_t2v.py --model random-wan2.1-1.3b \
  --device cuda --steps "${STEPS:-20}" --speedup-steps "${SPEEDUP_STEPS:-20}" \
  --options "${OPTIONS:-cache,cudnn}" --budget-s "$(( ${T13_S:-155} - 15 ))" --families t2v \
  --data-dir /tmp/openkling-gpu --json "$OUT/gpu_t2v.json" 2>&1 | tee "$OUT/gpu_t2v.log"
timeout "${A14B_S:-210}" python3 benchmarks/gpu_t2v.py --model random-wan2.2-a14b \
  --device cuda --steps "${A14B_STEPS:-10}" --speedup-steps "${A14B_STEPS:-10}" \
  --options "${A14B_OPTIONS:-cache}" --budget-s "$(( ${A14B_S:-210} - 15 ))" --families t2v \
  --data-dir /tmp/openkling-gpu-a14b --json "$OUT/gpu_a14b.json" 2>&1 | tee "$OUT/gpu_a14b.log"
timeout "${LTX2_S:-110}" python3 benchmarks/gpu_t2v.py --model random-ltx2 \
  --device cuda --steps "${LTX2_STEPS:-8}" --options none --skip-openkling --families t2v \
  --set "${LTX2_SET:-vae_tiling=true}" \
  --data-dir /tmp/openkling-gpu-ltx2 --json "$OUT/gpu_ltx2.json" 2>&1 | tee "$OUT/gpu_ltx2.log"
timeout "${FAM_S:-85}" python3 benchmarks/gpu_t2v.py --device cuda \
  --families "${FAMILIES:-i2v,images}" --i2v-steps "${I2V_STEPS:-10}" \
  --image-steps "${IMAGE_STEPS:-30}" --data-dir /tmp/openkling-gpu-families \
  --json "$OUT/gpu_families.json" 2>&1 | tee "$OUT/gpu_families.log"
