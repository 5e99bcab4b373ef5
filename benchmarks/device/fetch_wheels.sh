#!/usr/bin/env bash
# Download (here, where PyPI is reachable) the wheels benchmarks/device/run_gpu.sh installs on
# the GPU machine, into .whl/ at the repository root (ignored by git; carried with the run).
# The GPU image has Python 3.12, torch, transformers, accelerate, numpy, httpx, typer, rich,
# uvloop, ...; it lacks diffusers, PyAV and the server's own dependencies, listed here with
# the versions the project's tests ran with.
set -euo pipefail
cd "$(dirname "$0")/../.."
PACKAGES=(
  diffusers==0.42.1 importlib_metadata==10.2.0 zipp==4.1.2 av==18.1.0 ftfy==6.3.1
  wcwidth==0.9.4 fastapi==0.165.0 starlette==1.10.0 uvicorn==0.54.0 httptools==0.9.0
  sqlalchemy==2.1.9 greenlet==3.5.6 aiosqlite==0.22.1 alembic==1.20.1 mako==1.4.3
  pyjwt==2.15.1 pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0
  typing-inspection==0.4.5 pydantic-settings==2.16.3 python-dotenv==1.2.4
  platformdirs==4.14.9 cryptography==50.0.2 cffi==2.1.1 pycparser==3.12 sniffio==1.3.1
)
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 \
         manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64 manylinux_2_34_x86_64; do
  PLATFORMS+=(--platform "$p")
done
rm -rf .whl && mkdir -p .whl
"${PYTHON:-python3}" -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp "${PLATFORMS[@]}" -d .whl "${PACKAGES[@]}"
du -sh .whl
