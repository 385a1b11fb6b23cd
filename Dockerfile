# subscriber-sync container image.
#
#   docker build -t subscriber-sync .
#   docker run -d --name subscriber-sync -p 8080:8080 -v subscriber-sync:/var/lib/subscriber-sync \
#     -e SUBSCRIBER_SYNC_SDKAPPID=1400000000 --env-file subscriber-sync.env subscriber-sync
#
# The database and the events file live in the volume /var/lib/subscriber-sync. Settings come
# from SUBSCRIBER_SYNC_* variables (or --config FILE mounted into the container), secrets from
# TENCENT_SECRET_KEY / TENCENT_CALLBACK_TOKEN (or files); see samples/subscriber-sync.env.

ARG SWIFT_VERSION=6.3

# --- build: the README's steps (scripts/install-deps, then swift build) ------------------------
FROM swift:${SWIFT_VERSION}-bookworm AS build
WORKDIR /src
COPY scripts/install-deps scripts/install-deps
RUN scripts/install-deps && rm -rf /var/lib/apt/lists/*
COPY . .
# The Swift runtime and Foundation are linked in; the binary needs only libsqlite3, zlib and the C/C++
# runtime at run time. Stripped (-s): about 90 MB instead of 180.
RUN swift build -c release --product subscriber-sync --static-swift-stdlib \
 && install -D -s -m 0755 "$(swift build -c release --show-bin-path)/subscriber-sync" /out/subscriber-sync

# --- runtime -------------------------------------------------------------------------------------
FROM debian:bookworm-slim

# curl is for the HEALTHCHECK.
# Not pinned on purpose: bookworm point releases carry the security fixes.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsqlite3-0 zlib1g ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 subscriber-sync \
 && useradd --system --uid 10001 --gid subscriber-sync --home-dir /var/lib/subscriber-sync \
      --shell /usr/sbin/nologin subscriber-sync \
 && install -d -m 0750 -o subscriber-sync -g subscriber-sync /var/lib/subscriber-sync

COPY --from=build /out/subscriber-sync /usr/local/bin/subscriber-sync

ENV SUBSCRIBER_SYNC_LISTEN=0.0.0.0:8080 \
    SUBSCRIBER_SYNC_DATABASE=/var/lib/subscriber-sync/subscriber-sync.sqlite \
    SUBSCRIBER_SYNC_EVENTS=/var/lib/subscriber-sync/events.jsonl

VOLUME ["/var/lib/subscriber-sync"]
WORKDIR /var/lib/subscriber-sync
USER 10001:10001
EXPOSE 8080
# /healthz answers on the callback listener even when metricsListen moves /metrics elsewhere.
# Shell form on purpose: Docker reserves exit codes other than 0 and 1 (curl -f exits 22).
# hadolint ignore=DL3025
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["subscriber-sync"]
CMD ["serve"]
