#!/usr/bin/env bash
# Issue 23: the GPU row of every other locally served family, in one command for the lent GPU
# machine (H100/H200; Python 3.12 with torch, transformers and accelerate, no diffusers/PyAV,
# no network). The text2video, image2video and images rows are benchmarks/device/run_gpu.sh's.
#
# Here, once:   benchmarks/device/fetch_wheels.sh        (fills .whl/, about 55 MiB)
# Then, with the device tool:
#   run(command="bash benchmarks/device/run_gpu_families.sh", carry=[".whl"], timeout_s=600)
# It installs the carried wheels into /tmp/site and runs benchmarks/gpu_families.py once per
# group, each in its own process under its own time limit (so a group cut off cannot lose the
# rows before it; each JSON is also rewritten per row). Every model is the published
# architecture with RANDOM weights built on the GPU (the hub is unreachable), one request per
# family, direct: the family's own mapping and the model process's PipelineRunner.generate
# (pipe() and the file writes), after a 1-step warm-up per group. Not through openkling.
#   1. audio   audio/text-to-audio, 10 s (Stable Audio Open 1.0), its default
#              100 steps                                         (limit AUDIO_S, 40 s)
#   2. extend  videos/video-extend: a 5 s 832x480 source + 5 s at 768x512-ish (LTX-Video
#              0.9.5, condition pipeline) at EXTEND_STEPS=20 (default 40)   (EXTEND_S, 75 s)
#   3. vace    videos/multi-image2video, videos/omni-video, videos/multi-elements (removal,
#              SAM 2.1 hiera-tiny tracks the click) on random-wan2.1-vace-1.3b, 832x480,
#              81 frames, at VACE_STEPS=10 (default 30)                    (VACE_S, 180 s)
#   4. expand  images/editing/expand, rendered at about 1024x1024 (Qwen-Image: 20B
#              transformer + Qwen2.5-VL-7B, about 58 GB in bfloat16) at EXPAND_STEPS=10
#              (default 50)                                              (EXPAND_S, 100 s)
#   5. edit    images/multi-image2image (3 inputs) and images/omni-image (2 inputs), 1024x1024,
#              n=1 (Qwen-Image-Edit Plus 2509, the same 58 GB) at EDIT_STEPS=8 (default 40):
#              a 20B step over several 1024x1024 inputs costs seconds    (EDIT_S, 150 s)
#   6. reference  images/generations with image_reference=subject, 1024x1024, n=1: SDXL
#              base 1.0 + IP-Adapter Plus SDXL (both weights, ViT-H image encoder; written
#              to a folder first, about 5 GB) at its default 30 steps   (REFERENCE_S, 60 s)
# GROUPS="audio extend" runs only those groups (default: all six), to split the work over
# two calls when the six do not fit one.
# The steps are fewer than openkling's defaults so that the call nearly fits 10 minutes (605 s
# of limits plus the installs: run GROUPS=reference apart if it is cut off); seconds per step
# scale linearly, so a row at N steps costs about seconds * N / steps (plus the text encoding
# and VAE, a few seconds).
# Families left out: none of the local ones; FLUX/HunyuanVideo/LTX-2 rows belong to run_gpu.sh.
# The table is printed last; the JSONs and the logs land in $OUT.
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

group() {  # group NAME LIMIT_S STEPS ('' = the families' defaults)
  local steps=()
  [ -n "$3" ] && steps=(--steps "$3")
  timeout "$2" python3 benchmarks/gpu_families.py --groups "$1" --device cuda ${steps[@]+"${steps[@]}"} \
    --data-dir "/tmp/openkling-gpu-$1" --json "$OUT/families_$1.json" 2>&1 \
    | tee "$OUT/families_$1.log"
}
wanted=" ${GROUPS:-audio extend vace expand edit reference} "
only() { [[ "$wanted" == *" $1 "* ]]; }
only audio && group audio "${AUDIO_S:-40}" "${AUDIO_STEPS:-}"
only extend && group extend "${EXTEND_S:-75}" "${EXTEND_STEPS:-20}"
only vace && group vace "${VACE_S:-180}" "${VACE_STEPS:-10}"
only expand && group expand "${EXPAND_S:-100}" "${EXPAND_STEPS:-10}"
only edit && group edit "${EDIT_S:-150}" "${EDIT_STEPS:-8}"
only reference && group reference "${REFERENCE_S:-60}" "${REFERENCE_STEPS:-}"
echo "## GPU rows per family ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1))"
python3 benchmarks/gpu_families.py --table \
  "$OUT"/families_{audio,extend,vace,expand,edit,reference}.json | tee "$OUT/families_table.md"
