"""The npm client `kling-api` 1.0.0 (a Kling client nobody here wrote), unmodified, on its
default calls: every method of its KlingAPI class called with only the arguments it requires,
against openkling serving locally (the provider double) and openkling relaying to the Kling
simulator double. Each create is polled to `succeed` with the client's own poller; on the
local server the families no local model makes get Kling's refusal (400 / 1201 naming the
family and the provider that serves it); account calls answer Kling's account envelope.

The client only takes an `https://` base URL (its constructor option `baseUrl`; the default
is Kling's host), so each server is reached through a TLS front on loopback, as a deployment's
reverse proxy would serve it. Skipped, saying why, where node/npm are missing or the npm
registry cannot be reached. No PyPI Kling client installs here (docs/client.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PROVIDER_DOUBLE, SHARED_ENV, Credentials, running_server
from tests.doubles.kling_simulator import KlingSimulatorDouble, RunningSimulator, make_mp3
from tests.support.images import png
from tests.support.tls_front import TlsFront, self_signed

pytestmark = pytest.mark.slow

PACKAGE = "kling-api@1.0.0"
SCRIPT = Path(__file__).with_name("kling_api_npm_call.mjs")
STATIC_KEY = "sk-simulated-kling-account"
#: What npm prints when the registry cannot be reached (then the test is skipped).
OFFLINE = re.compile(r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|"
                     r"EHOSTUNREACH|network|proxy", re.IGNORECASE)

#: The client's task methods -> (Kling family path, task_result list (kling-api.md), the
#: model_name the client sends by default (its dist/operations/*.js; None: it sends none)).
TASK_CALLS: dict[str, tuple[str, str, str | None]] = {
    "textToVideo": ("videos/text2video", "videos", "kling-v1"),
    "imageToVideo": ("videos/image2video", "videos", "kling-v1"),
    "generateImage": ("images/generations", "images", "kling-v1"),
    "expandImage": ("images/editing/expand", "images", None),
    "omniImage": ("images/omni-image", "images", "kling-image-o1"),
    "multiImageToImage": ("images/multi-image2image", "images", "kling-v2"),
    "createAvatar": ("videos/avatar/image2video", "videos", None),
    "extendVideo": ("videos/video-extend", "videos", None),
    "multiImageToVideo": ("videos/multi-image2video", "videos", "kling-v1-6"),
    "omniVideo": ("videos/omni-video", "videos", "kling-video-o1"),
}
ACCOUNT_CALLS = ("healthCheck", "getAccountInfo")
#: Families the provider double makes (tests/doubles/provider.py); a relay serves them all.
LOCAL_FAMILIES = {"videos/text2video", "videos/image2video", "images/generations"}


@pytest.fixture(scope="module")
def npm_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with kling-api installed by npm, and the call script beside it."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not on PATH: the npm client kling-api cannot be run")
    major = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    if int(major.lstrip("v").split(".")[0]) < 18:
        pytest.skip(f"kling-api needs node >= 18, this node is {major.strip()}")
    folder = tmp_path_factory.mktemp("npm-kling-api")
    (folder / "package.json").write_text(json.dumps(
        {"name": "openkling-npm-client-check", "private": True, "type": "module"}))
    try:
        out = subprocess.run([npm, "install", "--no-audit", "--no-fund", PACKAGE], cwd=folder,
                             capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm install {PACKAGE} took over 300 s: the npm registry is not reachable")
    if out.returncode != 0:
        if OFFLINE.search(out.stderr):
            pytest.skip(f"the npm registry cannot be reached: {out.stderr.strip()[-300:]}")
        pytest.fail(f"npm install {PACKAGE} failed:\n{out.stderr}")
    shutil.copy(SCRIPT, folder / SCRIPT.name)
    return folder


@dataclass
class Side:
    """One openkling server as the client sees it: behind HTTPS, with a key of its own."""

    name: str
    base_url: str  # the plain-HTTP server (result files are fetched from it)
    front: TlsFront
    credentials: Credentials
    cert: Path
    files: Path
    upstream: KlingSimulatorDouble | None  # the relay's Kling


@pytest.fixture(scope="module", params=["local", "relay"])
def side(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Side]:
    """openkling with the provider double ("local"), or relaying to the Kling simulator."""
    files = tmp_path_factory.mktemp("inputs")
    (files / "portrait.png").write_bytes(png(320, 320))  # Kling: sides >= 300 px
    (files / "voice.mp3").write_bytes(make_mp3())
    cert, key = self_signed(files)
    simulator: RunningSimulator | None = None
    if request.param == "local":
        provider, env = PROVIDER_DOUBLE, dict(SHARED_ENV)
    else:
        simulator = RunningSimulator(KlingSimulatorDouble(
            api_keys=(STATIC_KEY,), concurrency_limit=100, processing_after=0.1,
            finish_after=0.4)).start()
        provider, env = "kling", {
            **SHARED_ENV,
            "OPENKLING_PROVIDER_OPTIONS__KLING__BASE_URL": simulator.base_url,
            "OPENKLING_PROVIDER_OPTIONS__KLING__API_KEY": STATIC_KEY,
            "OPENKLING_PROVIDER_OPTIONS__KLING__FIRST_POLL_AFTER": "0.1",
            "OPENKLING_PROVIDER_OPTIONS__KLING__MAX_POLL_INTERVAL": "0.3",
            "OPENKLING_PROVIDER_OPTIONS__KLING__LIST_INTERVAL": "0.3",
        }
    try:
        with running_server(tmp_path_factory.mktemp(request.param), provider, env) as server:
            front = TlsFront(server.port, cert, key).start()
            try:
                yield Side(request.param, server.base_url, front,
                           server.create_key("npm-client"), cert, files,
                           simulator.sim if simulator else None)
            finally:
                front.stop()
    finally:
        if simulator is not None:
            simulator.stop()


def run_call(npm_client: Path, side: Side, call: str) -> dict[str, Any]:
    """Run one default call in node; its one JSON line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KLING_", "NODE_"))}
    env.update(KLING_BASE_URL=side.front.base_url,
               KLING_ACCESS_KEY=side.credentials.access_key,
               KLING_SECRET_KEY=side.credentials.secret_key,
               KLING_TEST_IMAGE=str(side.files / "portrait.png"),
               KLING_TEST_SOUND=str(side.files / "voice.mp3"),
               NODE_EXTRA_CA_CERTS=str(side.cert))
    out = subprocess.run(["node", SCRIPT.name, call], cwd=npm_client, env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("call", ACCOUNT_CALLS)
def test_account_calls_see_valid_keys(npm_client: Path, side: Side, call: str) -> None:
    result = run_call(npm_client, side, call)
    assert result["ok"], result
    if call == "healthCheck":
        assert result["created"] is True
    else:  # Kling's account envelope: its own code and the resource packs (none: unmetered)
        answer = result["created"]
        assert (answer["code"], answer["message"]) == (0, "SUCCEED")
        assert answer["data"]["code"] == 0
        assert answer["data"]["resource_pack_subscribe_infos"] == []


@pytest.mark.parametrize("call", TASK_CALLS)
def test_default_task_call_succeeds_or_gets_klings_refusal(
        npm_client: Path, side: Side, call: str) -> None:
    family, result_list, default_model = TASK_CALLS[call]
    result = run_call(npm_client, side, call)
    if side.name == "local" and family not in LOCAL_FAMILIES:
        assert not result["ok"], result
        error = result["error"]
        assert (error["httpStatus"], error["code"]) == (400, 1201), error
        assert family in error["message"] and "'kling'" in error["message"], error
        return
    assert result["ok"], result
    created, final = result["created"], result["final"]
    assert created["code"] == 0 and created["data"]["task_status"] == "submitted", created
    task_id = created["data"]["task_id"]
    assert isinstance(task_id, str) and task_id.isdigit()
    assert final["data"]["task_id"] == task_id
    assert final["data"]["task_status"] == "succeed", final
    outputs = final["data"]["task_result"][result_list]
    assert outputs, final
    for output in outputs:  # openkling's own files (re-hosted on the relay), fetchable
        url = output["url"]
        assert url.startswith(side.base_url), url
        assert httpx.get(url, timeout=30).status_code == 200, url
    if side.upstream is not None:  # relayed once, to the family's route, with its defaults
        sim = side.upstream
        assert sim.submits[task_id] == 1
        [forwarded] = [b for b in sim.create_bodies if b.get("external_task_id") == task_id]
        assert sim.create_paths[sim.create_bodies.index(forwarded)] == family
        assert forwarded.get("model_name") == default_model, forwarded
