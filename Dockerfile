# syntax=docker/dockerfile:1
#
# genesyscloud-poller container image.
#
#   docker build -t genesyscloud-poller --build-arg VERSION=0.1.0 .
#   docker run --read-only -p 9864:9864 \
#     -v "$PWD/config/poller.yaml:/etc/genesyscloud-poller/poller.yaml:ro" \
#     -e GENESYS_CLIENT_ID -e GENESYS_CLIENT_SECRET genesyscloud-poller
#   docker run --read-only -p 9864:9864 --entrypoint genesyscloud-poller genesyscloud-poller \
#     demo --web.listen-address 0.0.0.0:9864
#
# BASE_IMAGE must be a Debian-like image with python3 (>= 3.11) and its venv module. Both stages
# use it, so the interpreter that builds the venv is the one that runs it. The commands say
# `python3`, never `python`: Debian's own python3 lives in /usr/bin and has no `python`.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# A throwaway venv for pip: a distribution's python3 may refuse system-wide pip use (PEP 668).
RUN python3 -m venv /opt/build
WORKDIR /src
COPY . .
# Our wheel plus wheels of every dependency, so the runtime stage installs without a network and
# without compilers. tests/deploy/test_wheel.py runs this same command. The cache mount keeps
# downloads between builds without putting them in a layer.
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/build/bin/python -m pip wheel --wheel-dir /wheels .

FROM ${BASE_IMAGE}
ARG VERSION=dev
LABEL org.opencontainers.image.title="genesyscloud-poller" \
      org.opencontainers.image.description="Genesys Cloud flow analytics as Prometheus metrics" \
      org.opencontainers.image.source="https://github.com/genesyscloud-poller/genesyscloud-poller" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

# The bind mount keeps the wheels out of the image's layers. The user gets a fixed numeric id so
# that Kubernetes' runAsNonRoot can verify it and mounted secrets can be shared by group.
# pip is removed afterwards: nothing installs at run time.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python3 -m venv /opt/genesyscloud-poller \
 && /opt/genesyscloud-poller/bin/python -m pip install --no-cache-dir --no-index \
      --disable-pip-version-check --find-links /wheels genesyscloud-poller \
 && /opt/genesyscloud-poller/bin/python -m pip uninstall --yes --quiet pip setuptools \
 && groupadd --gid 10001 poller \
 && useradd --no-log-init --uid 10001 --gid poller --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin poller \
 && mkdir -p /etc/genesyscloud-poller

# Set only now so that the install above still compiled the bytecode: with a read-only root
# filesystem nothing may be written at run time.
ENV PATH="/opt/genesyscloud-poller/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    POLLER_CONFIG=/etc/genesyscloud-poller/poller.yaml

USER 10001:10001
EXPOSE 9864
# Assumes the default port 9864; change it here too if server.listen moves.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/opt/genesyscloud-poller/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9864/healthz', timeout=4)"]
ENTRYPOINT ["/opt/genesyscloud-poller/bin/genesyscloud-poller", "run"]
