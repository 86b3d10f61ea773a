# syntax=docker/dockerfile:1
# checkov:skip=CKV_DOCKER_2: the runtime image has no shell and no HTTP client to run a HEALTHCHECK with; the orchestrator probes /healthz and /readyz itself (deploy/base/deployment.yaml), and Kubernetes ignores HEALTHCHECK anyway.
#
# The motcua image: `motcua serve` by default, any other subcommand as arguments
# (`docker run IMAGE migrate`). Three stages: a recipe of the dependencies, the dependencies
# built from the recipe alone (a cached layer that changes only with Cargo.toml/Cargo.lock), then
# our own code. The runtime image is distroless: glibc, libgcc, CA certificates and tzdata, no
# shell, no package manager, running as the numeric non-root user 65532.
#
# TLS is rustls everywhere (aws-lc-rs built into the binary, no OpenSSL), so the runtime needs
# only glibc and the CA bundle, which cc-debian12 ships. The builder is Debian 12 as well, so the
# binary links against the glibc it runs on.
#
# Images are pinned by tag. Pin them by digest too (`rust:1.94-slim-bookworm@sha256:…`) in the
# build pipeline that pulls them, where the digest can be checked against the registry.

FROM rust:1.94-slim-bookworm AS chef
WORKDIR /build
RUN cargo install cargo-chef --locked --version 0.1.76

# The recipe: every manifest and the lock file, nothing else, so the next stage's cache key moves
# only when dependencies do.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# SQL is checked at compile time against the committed descriptions in .sqlx/; no database is
# reachable (or wanted) while building an image.
ENV SQLX_OFFLINE=true
COPY --from=planner /build/recipe.json recipe.json
RUN cargo chef cook --release --package motcua --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --package motcua --bin motcua \
    && cp target/release/motcua /motcua

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /motcua /motcua
# The distroless `nonroot` user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
WORKDIR /home/nonroot
ENV MOTCUA_LISTEN=0.0.0.0:8080 \
    MOTCUA_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/motcua"]
CMD ["serve"]
