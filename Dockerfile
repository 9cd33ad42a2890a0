# syntax=docker/dockerfile:1
#
# OtterScale image: both executables, compiled with the production permission flags of the
# `server` and `agent` tasks, on a distroless non-root base.
#
#   docker build -t otterscale .                    the hub (default target)
#   docker build --target agent -t otterscale-agent .  the agent as entry point
#   docker run --entrypoint /otterscale-agent otterscale …  or the agent from the hub image
#
# Base images are pinned by tag, not digest: the digests could not be looked up where this file
# was written. Pin them by digest in your registry mirror if you need reproducible bytes.

# The builder runs on the build machine's own platform and cross-compiles for the image's
# platform (deno compile --target), so multi-platform builds need no emulation.
FROM --platform=$BUILDPLATFORM denoland/deno:debian-2.9.6 AS build
WORKDIR /src
# Dependencies first, so a code change does not refetch them.
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY scripts/compile.ts scripts/
COPY shared/ shared/
COPY server/ server/
COPY agent/ agent/
ARG TARGETARCH
RUN case "$TARGETARCH" in \
      amd64) target=x86_64-unknown-linux-gnu ;; \
      arm64) target=aarch64-unknown-linux-gnu ;; \
      *) echo "unsupported TARGETARCH: $TARGETARCH" >&2; exit 1 ;; \
    esac \
 && deno task compile --target "$target" --out-dir /out \
 && mv "/out/otterscale-server-$target" /out/otterscale-server \
 && mv "/out/otterscale-agent-$target" /out/otterscale-agent \
 && mkdir -p /out/state

# denort links glibc, so the base is distroless/cc rather than distroless/static.
FROM gcr.io/distroless/cc-debian12:nonroot AS base
COPY --from=build /out/otterscale-server /out/otterscale-agent /
USER 65532:65532
WORKDIR /home/nonroot

FROM base AS agent
ENTRYPOINT ["/otterscale-agent"]

# The hub, last so it is the default target.
FROM base AS server
# The tunnel CA lives here (--tunnel-ca-dir defaults to /var/lib/otterscale/ca). It must belong
# to the non-root user, or the hub cannot create its CA on first start (the reference's bug B16).
COPY --from=build --chown=65532:65532 /out/state /var/lib/otterscale
VOLUME ["/var/lib/otterscale"]
ENV OTTERSCALE_SERVER_ADDRESS=:8299 \
    OTTERSCALE_SERVER_TUNNEL_ADDRESS=0.0.0.0:8300
EXPOSE 8299 8300
ENTRYPOINT ["/otterscale-server"]
