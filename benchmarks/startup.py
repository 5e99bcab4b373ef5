"""How long `openkling serve` takes from launch to answering: /healthz (the process serves)
and /readyz (a created task can run), plus the bare interpreter and the imports on the way.

    python benchmarks/startup.py [--runs 3] [--model tiny-random-wan]

Each run launches `openkling serve` on a free port over the same data directory (the first
run also creates and migrates the database), with the provider double unless --model names a
diffusers model. Medians of --runs; compare runs on the same host.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, free_port, python

IMPORTS = {
    "bare interpreter": "pass",
    "openkling.cli.main": "import openkling.cli.main",
    "the API app (FastAPI, SQLAlchemy, routes)": "import openkling.api.app",
}


def import_seconds(statement: str) -> float:
    began = time.perf_counter()
    subprocess.run([python(), "-c", statement], check=True, cwd=ROOT)
    return time.perf_counter() - began


def serve_seconds(data_dir: Path, model: str | None) -> tuple[float, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKLING_")}
    env.update(OPENKLING_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT),
               OPENKLING_LOG_LEVEL="warning")
    cmd = [python(), "-m", "openkling.cli.main", "serve", "--port", str(port)]
    if model:
        cmd += ["--model", model]
    else:
        env["OPENKLING_PROVIDER"] = "tests.doubles.provider:ProviderDouble"
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    healthy = ready = 0.0
    try:
        while not ready:
            if proc.poll() is not None:
                raise SystemExit(f"openkling serve exited with {proc.returncode}")
            if time.perf_counter() - began > 300:
                raise SystemExit("openkling serve was not ready within 300 s")
            try:
                if not healthy and httpx.get(f"http://127.0.0.1:{port}/healthz",
                                             timeout=1).status_code == 200:
                    healthy = time.perf_counter() - began
                if healthy and httpx.get(f"http://127.0.0.1:{port}/readyz",
                                         timeout=5).status_code == 200:
                    ready = time.perf_counter() - began
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(30)
    return healthy, ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    for name, statement in IMPORTS.items():
        median = statistics.median(import_seconds(statement) for _ in range(args.runs))
        print(f"{name:45} {median:6.2f} s")
    data_dir = Path(tempfile.mkdtemp(prefix="openkling-startup-"))
    runs = [serve_seconds(data_dir, args.model) for _ in range(args.runs)]
    print(f"{'serve to /healthz (median of ' + str(args.runs) + ')':45} "
          f"{statistics.median(r[0] for r in runs):6.2f} s")
    print(f"{'serve to /readyz':45} {statistics.median(r[1] for r in runs):6.2f} s")


if __name__ == "__main__":
    main()
