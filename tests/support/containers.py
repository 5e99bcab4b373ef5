"""Podman for the deploy tests: the base image, builds with this machine's pip, containers.

No image registry is reachable where these tests run, so every image starts from a Debian
bookworm made here with mmdebstrap and `podman import` (cached under BASE_IMAGE: built once,
reused while it exists). Builds get this machine's pip configuration read-only, as the build
secret `pip.conf` plus read-only mounts of the local folders it names, so the image installs
the same packages as the tests' own venv; nothing of it ends up in an image.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/openkling-test-base:bookworm"
#: Left out of the mmdebstrap base, as slim images do: documentation, manuals, translations.
_BASE_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*",
                  "/usr/share/info/*")


def podman_skip_reason() -> str | None:
    """None when podman can run a container here, else why the deploy tests skip."""
    if shutil.which("podman") is None:
        return "podman is not installed (.ci/podman-setup installs it)"
    probe = subprocess.run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"podman does not work here: {probe.stderr.strip()[:300]}"
    if not image_exists(BASE_IMAGE) and shutil.which("mmdebstrap") is None:
        return "mmdebstrap is not installed (needed for the base image; .ci/podman-setup)"
    return None


def podman(*args: str, check: bool = True, timeout: float = 600,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True,
                            timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed ({result.returncode}):\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def image_exists(name: str) -> bool:
    return subprocess.run(["podman", "image", "exists", name]).returncode == 0


@contextmanager
def _building(tag: str) -> Iterator[None]:
    """One build of `tag` at a time on this machine: test processes (pytest -n) that need
    the same image wait for the first one's build, then reuse it."""
    safe = re.sub(r"[^\w.-]", "_", tag)
    path = Path(tempfile.gettempdir()) / f"openkling-image-{safe}.lock"
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_base_image() -> str:
    """Debian bookworm with python3, python3-venv and CA certificates only (what the
    Dockerfile must build on), imported into podman once and reused."""
    with _building(BASE_IMAGE):
        if not image_exists(BASE_IMAGE):
            _bootstrap_base()
    return BASE_IMAGE


def _bootstrap_base() -> None:
    with tempfile.TemporaryDirectory(prefix="openkling-base-") as tmp:
        tarball = Path(tmp) / "base.tar"
        # merged-usr by hook, as Debian's own images do, not by the usrmerge package (and Perl).
        command = ["mmdebstrap", "--variant=minbase", "--quiet",
                   "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
                   "--include=python3,python3-venv,ca-certificates",
                   *[f"--dpkgopt=path-exclude={path}" for path in _BASE_EXCLUDES],
                   "bookworm", str(tarball)]
        subprocess.run(command, check=True, capture_output=True, timeout=900)
        podman("import", "--change", 'CMD ["/bin/bash"]', "--change",
               "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               str(tarball), BASE_IMAGE)


def _pip_settings() -> dict[str, str]:
    """This machine's effective pip settings (files and PIP_* variables), as pip lists them."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"],
                            capture_output=True, text=True, check=True).stdout
    settings: dict[str, str] = {}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        name = key.rpartition(".")[2]
        if name and value:
            settings[name] = value.strip().strip("'\"")
    return settings


def _local_paths(value: str) -> list[str]:
    """The existing local files and folders a pip setting refers to."""
    paths = []
    for word in value.split():
        path = word.removeprefix("file://")
        if path.startswith("/") and os.path.exists(path):
            if os.path.isfile(path):
                path = os.path.realpath(path)
            elif os.path.basename(path.rstrip("/")) == "simple":  # an index: its files beside
                path = os.path.dirname(path.rstrip("/"))
            paths.append(path)
    return paths


def pip_build_options(workdir: Path) -> list[str]:
    """`podman build` options lending this machine's pip configuration, read-only."""
    settings = _pip_settings()
    conf = workdir / "pip.conf"
    conf.write_text("[global]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
    options = ["--secret", f"id=pip.conf,src={conf}"]
    mounts = sorted({p for value in settings.values() for p in _local_paths(value)})
    for path in mounts:
        options += ["--volume", f"{path}:{path}:ro"]
    return options


def _digest(salt: str, files: Sequence[Path]) -> str:
    """A digest of files an image is built from, so an unchanged tree reuses its image."""
    digest = hashlib.sha256(salt.encode())
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def build_openkling_image(extras: str) -> str:
    """The repository's Dockerfile built on the Debian base with `extras`; reused when this
    tree was already built with them."""
    files = [ROOT / "Dockerfile", ROOT / "pyproject.toml", ROOT / "README.md",
             *sorted((ROOT / "src").rglob("*"))]
    tag = f"localhost/openkling-test:{extras.replace(',', '-')}-{_digest(extras, files)}"
    return _build(tag, ROOT, "--build-arg", f"EXTRAS={extras}", "-f", str(ROOT / "Dockerfile"))


def build_context_image(name: str, context: Path) -> str:
    """An image of the tests' own (tests/deploy/images/...) on the Debian base; reused while
    its folder is unchanged."""
    return _build(f"{name}:{_digest(name, sorted(context.rglob('*')))}", context)


def _build(tag: str, context: Path, *options: str) -> str:
    base = ensure_base_image()
    with _building(tag), tempfile.TemporaryDirectory(prefix="openkling-build-") as tmp:
        if not image_exists(tag):
            # --layers=false: no intermediate images; the build stage (1.5 GB with torch) is
            # never committed, only the final image.
            podman("build", "--format", "docker", "--layers=false",
                   "--build-arg", f"BASE_IMAGE={base}",
                   *pip_build_options(Path(tmp)), *options, "-t", tag, str(context),
                   timeout=1800)
    return tag


def image_size_mb(name: str) -> float:
    size = int(podman("image", "inspect", "--format", "{{.Size}}", name).stdout.strip())
    return size / 1e6


def wait_until_ready(base_url: str, timeout: float = 180,
                     alive: Sequence[str] = ()) -> None:
    """Wait for /readyz 200; `alive`: containers whose exit means it never will."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in alive:
            state = podman("inspect", "--format", "{{.State.Status}}", name, check=False)
            if state.stdout.strip() in ("exited", "stopped"):
                raise RuntimeError(f"{name} exited:\n{logs(name)}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{base_url} did not become ready")


def wait_for(check: Callable[[], bool], timeout: float) -> None:
    """Call `check` until it returns true; an exception counts as not yet (a server still
    starting), and the last one is raised at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def logs(name: str) -> str:
    result = podman("logs", name, check=False)
    return (result.stdout + result.stderr)[-6000:]


def create_key(container: str, *openkling_args: str) -> dict[str, str]:
    """`openkling keys create --json` inside a running container."""
    out = podman("exec", container, "openkling", "keys", "create", "--name", "deploy",
                 "--json", *openkling_args).stdout
    data: dict[str, str] = json.loads(out)
    return data


def text2video_round_trip(base_url: str, api_key: str, *, timeout: float = 300,
                          video_host: str | None = None) -> tuple[str, bytes]:
    """Create a text2video task through the Kling API, poll until it succeeds, download its
    video; returns (task id, video bytes)."""
    task_id = create_task(base_url, api_key)
    task = wait_for_task(base_url, api_key, task_id, timeout=timeout)
    assert task["task_status"] == "succeed", task
    url = task["task_result"]["videos"][0]["url"]
    video = httpx.get(url, timeout=30)
    assert video.status_code == 200, (url, video.status_code, video.text[:300])
    return task_id, video.content


def create_task(base_url: str, api_key: str) -> str:
    """POST /v1/videos/text2video; returns the task id."""
    created = httpx.post(f"{base_url}/v1/videos/text2video",
                         headers={"Authorization": f"Bearer {api_key}"},
                         json={"prompt": "a lighthouse at dusk", "duration": "5"}, timeout=30)
    assert created.status_code == 200, created.text
    task_id: str = created.json()["data"]["task_id"]
    return task_id


def wait_for_task(base_url: str, api_key: str, task_id: str, *, timeout: float = 300,
                  statuses: frozenset[str] = frozenset({"succeed", "failed"})
                  ) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {api_key}"}
    deadline = time.monotonic() + timeout
    while True:
        data: dict[str, object] = httpx.get(
            f"{base_url}/v1/videos/text2video/{task_id}", headers=headers, timeout=30
        ).json()["data"]
        if data["task_status"] in statuses:
            return data
        assert time.monotonic() < deadline, f"task stuck: {data}"
        time.sleep(0.5)


def is_mp4(data: bytes) -> bool:
    """An ISO BMFF file starts with a box whose type is `ftyp`."""
    return len(data) > 12 and data[4:8] == b"ftyp"


def remove_containers(names: Sequence[str]) -> None:
    """Remove these containers with their anonymous volumes (the image's VOLUME /data)."""
    if names:
        podman("rm", "--force", "--volumes", "--time", "0", *names, check=False)


def remove_compose_project(project: str) -> None:
    """Everything podman-compose made for `project`, scaled replicas included (its `down`
    knows only the replicas of the command line it is given)."""
    label = f"label=io.podman.compose.project={project}"
    names = podman("ps", "-a", "--filter", label, "--format", "{{.Names}}",
                   check=False).stdout.split()
    remove_containers(names)
    podman("pod", "rm", "--force", f"pod_{project}", check=False)
    volumes = podman("volume", "ls", "--filter", label, "--format", "{{.Name}}",
                     check=False).stdout.split()
    if volumes:
        podman("volume", "rm", "--force", *volumes, check=False)
    podman("network", "rm", "--force", f"{project}_default", check=False)


@contextmanager
def removed_after(*names: str, volumes: Sequence[str] = ()) -> Iterator[None]:
    """Remove these containers and volumes when the block ends, whatever happened."""
    try:
        yield
    finally:
        remove_containers(names)
        for volume in volumes:
            podman("volume", "rm", "--force", volume, check=False)
