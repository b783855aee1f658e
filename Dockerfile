# syntax=docker/dockerfile:1
# convex-gateway: multi-stage build -> slim, non-root runtime with the data folder in a volume.

# --- build ---------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src
# Build the dependency graph first against stub sources, so source edits reuse this layer.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

# --- runtime -------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 65532 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin gateway \
    && mkdir -p /data \
    && chown gateway:gateway /data
COPY --from=builder /src/target/release/convex-gateway /usr/local/bin/convex-gateway
ENV GATEWAY_ADDR=0.0.0.0:8080 \
    GATEWAY_DATA_DIR=/data \
    LOG_FORMAT=json
USER gateway:gateway
VOLUME ["/data"]
EXPOSE 8080
# The gateway drains requests in flight on SIGTERM (GATEWAY_SHUTDOWN_GRACE seconds).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["convex-gateway", "healthcheck"]
ENTRYPOINT ["convex-gateway"]
CMD ["serve"]
