# One image for every govmail service; the command picks the service (`govmail scanner`, …).
# Reproducible: a fixed base image tag (pin its digest too with
#   --build-arg PYTHON_IMAGE=python:3.11.11-slim-bookworm@sha256:<digest from your registry mirror>),
# exact dependency versions from constraints.txt (the same file ./govmail installs with), no pip cache
# and no .pyc files written at build time.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY constraints.txt pyproject.toml ./
COPY schemas ./schemas
COPY services ./services
# Only the runtime dependencies: the project without its [test] extra, pinned by constraints.txt.
RUN python -m venv /opt/govmail \
 && /opt/govmail/bin/pip install --no-cache-dir --no-compile -c constraints.txt .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/govmail/bin:$PATH \
    GOVMAIL_DATA_DIR=/var/lib/govmail \
    GOVMAIL_HOST=0.0.0.0
# A fixed numeric uid/gid so that runAsNonRoot can verify it and volumes can be shared between pods.
RUN groupadd --system --gid 10001 govmail \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/govmail --no-create-home \
      --shell /usr/sbin/nologin govmail \
 && install -d -o 10001 -g 10001 /var/lib/govmail
COPY --from=build /opt/govmail /opt/govmail
USER 10001:10001
WORKDIR /var/lib/govmail
# SMTP listens on unprivileged ports in the container (2525 MX, 2587 submission); the Service maps 25 and 587.
EXPOSE 2525 2587 8025 8026 8027 8028 8030 8031 8032
ENTRYPOINT ["govmail"]
CMD ["--help"]
