"""deploy/kubernetes: the Kustomize base and its overlay render with `kubectl kustomize`, and
the rendered API and worker Deployments run under `podman kube play` with the image built
here: a text2video round trip through the API pod, rendered by the worker pod.

`podman kube play` runs Pods, Deployments and ConfigMaps; the test turns what it cannot run
into what it can, and says so: the Secret becomes a ConfigMap, the migration Job a Pod; the
Service, autoscaler and disruption budgets are the cluster's business and are left out.
PostgreSQL and the S3 bucket are the operator's: here, pods of the tests' services image.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import free_port
from tests.support import containers
from tests.support.containers import podman

pytestmark = pytest.mark.slow

ROOT = containers.ROOT
KUBE = ROOT / "deploy" / "kubernetes"
SECRETS = {"OPENKLING_SECRET_KEY": "k8s-test-master-secret-0123456789abcdef",
           "AWS_ACCESS_KEY_ID": "openkling", "AWS_SECRET_ACCESS_KEY": "k8s-test-s3-secret"}


def kustomize(directory: Path) -> list[dict[str, Any]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (.ci/podman-setup installs it from PyPI)")
    rendered = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True,
                              text=True, timeout=120)
    assert rendered.returncode == 0, rendered.stderr
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def copy_with_secrets(tmp_path: Path, secrets: dict[str, str]) -> Path:
    """deploy/kubernetes in a temporary folder, with the base/secret.env an operator makes."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(KUBE, copy)
    (copy / "base" / "secret.env").write_text("".join(f"{k}={v}\n" for k, v in secrets.items()))
    return copy


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def test_base_and_overlay_render(tmp_path: Path) -> None:
    copy = copy_with_secrets(tmp_path, {**SECRETS, "OPENKLING_DATABASE_URL": "postgresql+"
                                        "asyncpg://openkling:pw@db.example.internal/openkling"})
    base = kustomize(copy)
    kinds = sorted(doc["kind"] for doc in base)
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "HorizontalPodAutoscaler", "Job",
                     "PodDisruptionBudget", "PodDisruptionBudget", "Secret", "Service"]
    api, worker = (next(d for d in by_kind(base, "Deployment") if d["metadata"]["name"] == n)
                   for n in ("openkling-api", "openkling-worker"))
    api_container = api["spec"]["template"]["spec"]["containers"][0]
    assert api_container["args"] == ["serve", "--no-worker"]
    assert api_container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api_container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    worker_spec = worker["spec"]["template"]["spec"]
    assert worker_spec["containers"][0]["args"] == ["worker"]
    # Sized to a render: past the workers' own drain (OPENKLING_SHUTDOWN_GRACE_SECONDS).
    config = by_kind(base, "ConfigMap")[0]["data"]
    assert worker_spec["terminationGracePeriodSeconds"] > float(
        config["OPENKLING_SHUTDOWN_GRACE_SECONDS"])
    # The generated Secret and ConfigMap names (with their hash) are what the pods refer to.
    secret_name = by_kind(base, "Secret")[0]["metadata"]["name"]
    refs = {ref.get("secretRef", ref.get("configMapRef", {})).get("name")
            for ref in api_container["envFrom"]}
    assert secret_name in refs and by_kind(base, "ConfigMap")[0]["metadata"]["name"] in refs

    overlay = kustomize(copy / "overlays" / "gpu-keda")
    gpu_worker = next(d for d in by_kind(overlay, "Deployment")
                      if d["metadata"]["name"] == "openkling-worker")
    limits = gpu_worker["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 1
    scaled = by_kind(overlay, "ScaledObject")[0]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "openkling-worker"
    assert "openkling_queue_depth" in scaled["spec"]["triggers"][0]["metadata"]["query"]


def test_a_missing_secret_env_fails_the_render_and_names_the_file(tmp_path: Path) -> None:
    copy = tmp_path / "kubernetes"
    shutil.copytree(KUBE, copy)
    (copy / "base" / "secret.env").unlink(missing_ok=True)
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (.ci/podman-setup installs it from PyPI)")
    rendered = subprocess.run(["kubectl", "kustomize", str(copy)], capture_output=True,
                              text=True, timeout=120)
    assert rendered.returncode != 0 and "secret.env" in rendered.stderr


def _runnable(docs: list[dict[str, Any]], image: str) -> list[dict[str, Any]]:
    """What `podman kube play` runs: Secret -> ConfigMap, Job -> Pod, the image set, one
    replica each; Service, autoscaler and disruption budgets left to a real cluster."""
    out: list[dict[str, Any]] = []
    secret_names = {d["metadata"]["name"] for d in by_kind(docs, "Secret")}
    for doc in docs:
        kind = doc["kind"]
        if kind == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}
            out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc["metadata"],
                        "data": data})
        elif kind == "ConfigMap":
            out.append(doc)
        elif kind in ("Deployment", "Job"):
            spec = doc["spec"]["template"]["spec"]
            for container in spec["containers"]:
                container["image"] = image
                for ref in container.get("envFrom", []):
                    if ref.get("secretRef", {}).get("name") in secret_names:
                        ref["configMapRef"] = ref.pop("secretRef")
            if kind == "Deployment":
                doc["spec"]["replicas"] = 1
                out.append(doc)
            else:
                out.append({"apiVersion": "v1", "kind": "Pod",
                            "metadata": {"name": doc["metadata"]["name"]}, "spec": spec})
    return out


def _services(image: str, password: str, s3_port: int) -> list[dict[str, Any]]:
    """The operator's PostgreSQL and S3, as pods of the tests' services image."""
    def pod(name: str, args: list[str], env: dict[str, str],
            ports: list[dict[str, int]]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"restartPolicy": "Never", "containers": [{
                    "name": "main", "image": image, "args": args, "ports": ports,
                    "env": [{"name": k, "value": v} for k, v in env.items()]}]}}
    return [pod("postgres", ["postgres"], {"POSTGRES_USER": "openkling", "POSTGRES_DB":
                                            "openkling", "POSTGRES_PASSWORD": password}, []),
            pod("s3", ["server", "/data"], {}, [{"containerPort": 9000, "hostPort": s3_port,
                                    "hostIP": "127.0.0.1"}])]


@pytest.fixture
def network() -> Iterator[str]:
    name = f"openkling-kube-{uuid.uuid4().hex[:8]}"
    podman("network", "create", name)
    yield name
    podman("network", "rm", "--force", name, check=False)


def test_manifests_run_under_podman_kube_play(
        tmp_path: Path, local_image: str, services_image: str, network: str) -> None:
    password = uuid.uuid4().hex
    api_port, s3_port = free_port(), free_port()
    copy = copy_with_secrets(tmp_path, {
        **SECRETS,
        "OPENKLING_DATABASE_URL": f"postgresql+asyncpg://openkling:{password}@postgres:5432/"
                                  "openkling"})
    # The operator's settings for this cluster: the bucket's endpoints, the tiny model.
    config = copy / "base" / "config.env"
    config.write_text(config.read_text().replace(
        "OPENKLING_PUBLIC_URL=https://video.example.com",
        f"OPENKLING_PUBLIC_URL=http://127.0.0.1:{api_port}\n"
        "OPENKLING_S3_ENDPOINT_URL=http://s3:9000\n"
        f"OPENKLING_S3_PUBLIC_ENDPOINT_URL=http://127.0.0.1:{s3_port}").replace(
        "MODEL=Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "MODEL=tiny-random-wan"))
    docs = kustomize(copy)
    services = tmp_path / "services.yaml"
    services.write_text(yaml.safe_dump_all(_services(services_image, password, s3_port)))
    app = _runnable(docs, local_image)
    api = next(d for d in app if d["metadata"]["name"] == "openkling-api")
    api["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(
        hostPort=api_port, hostIP="127.0.0.1")
    manifest = tmp_path / "openkling.yaml"
    manifest.write_text(yaml.safe_dump_all(app))
    try:
        podman("kube", "play", "--replace", "--network", network, str(services))
        # The bucket: the operator's job; here through the S3 pod's published port.
        import botocore.session
        s3 = botocore.session.get_session().create_client(
            "s3", endpoint_url=f"http://127.0.0.1:{s3_port}", region_name="us-east-1",
            aws_access_key_id="openkling", aws_secret_access_key="x")
        containers.wait_for(lambda: s3.create_bucket(Bucket="openkling") is not None, 120)
        podman("kube", "play", "--replace", "--network", network, str(manifest))
        containers.wait_until_ready(f"http://127.0.0.1:{api_port}", timeout=300)
        api_container = podman("ps", "--filter", "name=openkling-api", "--format",
                               "{{.Names}}").stdout.split()
        api_name = next(n for n in api_container if not n.endswith("-infra"))
        key = containers.create_key(api_name)
        _, video = containers.text2video_round_trip(f"http://127.0.0.1:{api_port}",
                                                   key["api_key"], timeout=600)
        assert containers.is_mp4(video)
    finally:
        # `kube down` leaves the anonymous volumes of the pods' containers: remove them too.
        pods = [d["metadata"]["name"] + ("-pod-0" if d["kind"] == "Deployment" else "")
                for d in [*app, *_services(services_image, password, s3_port)]
                if d["kind"] in ("Deployment", "Pod")]
        names = podman("ps", "-a", "--format", "{{.Names}} {{.PodName}}",
                       check=False).stdout.splitlines()
        containers.remove_containers([line.split()[0] for line in names
                                      if len(line.split()) == 2 and line.split()[1] in pods])
        podman("kube", "down", str(manifest), check=False)
        podman("kube", "down", str(services), check=False)
