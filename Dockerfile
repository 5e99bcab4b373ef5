# syntax=docker/dockerfile:1
# openkling's container image: `docker run -p 8000:8000 -v openkling:/data IMAGE serve`.
#
# BASE_IMAGE: any Debian-like image with python3 (>= 3.11) and its venv module; the default is
#   the official slim Python image. Tests build on a plain Debian bookworm made with mmdebstrap.
# EXTRAS: the pip extras: `server` (API and workers for the relay, SQLite and PostgreSQL; no
#   torch), plus `s3` for S3-compatible storage and `local` to render with open models
#   (compose and Kubernetes use `server,s3,local`).
# TORCH_SPEC / TORCH_INDEX_URL: with `local`, PyTorch is installed first and pinned (as
#   scripts/setup does) so that pip does not pull another build for diffusers. The default is
#   whatever the index serves for the pin; for CUDA pass the PyTorch CUDA wheel index as
#   TORCH_INDEX_URL (see docs/deployment.md, "GPU nodes").
# pip's own configuration is never baked in: a build that needs one (a mirror, a proxy's CA)
# lends it as the build secret `pip.conf` (`--secret id=pip.conf,src=/etc/pip.conf`).
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
# tini is PID 1: it forwards SIGTERM to openkling (which drains) and reaps the model processes.
# The user and /data are made here too, so the final stage runs nothing (and keeps nothing of
# this build's mounts).
RUN set -eu; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends tini >/dev/null; \
    useradd --system --uid 10001 --user-group --home-dir /data --no-create-home openkling; \
    mkdir -p /rootfs/data/.cache/huggingface /rootfs/etc; \
    cp /etc/passwd /etc/group /rootfs/etc/; \
    python3 -m venv /opt/openkling
# The arguments come after the step above, so images with other extras share its layer.
ARG EXTRAS=server
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX_URL=
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN --mount=type=secret,id=pip.conf,required=false \
    set -eu; \
    if [ -s /run/secrets/pip.conf ]; then export PIP_CONFIG_FILE=/run/secrets/pip.conf; fi; \
    case ",${EXTRAS}," in \
      *,local,*) /opt/openkling/bin/pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} \
                 "${TORCH_SPEC}" ;; \
    esac; \
    /opt/openkling/bin/pip install ".[${EXTRAS}]"; \
    /opt/openkling/bin/pip uninstall -q -y pip

FROM ${BASE_IMAGE}
COPY --from=build /rootfs/etc/passwd /rootfs/etc/group /etc/
COPY --from=build /usr/bin/tini /usr/bin/tini
COPY --from=build --chown=10001:10001 /rootfs/data /data
COPY --from=build /opt/openkling /opt/openkling
ENV PATH=/opt/openkling/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/data \
    OPENKLING_HOST=0.0.0.0 \
    OPENKLING_PORT=8000 \
    OPENKLING_DATA_DIR=/data
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# Liveness of `serve` (workers have no HTTP port: compose and Kubernetes turn this off for them).
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('OPENKLING_PORT', '8000'), timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--", "openkling"]
CMD ["serve"]
