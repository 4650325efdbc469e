# syntax=docker/dockerfile:1
#
# stopline container image.
#
#   docker build -t stopline:dev \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" --build-arg SOURCE=https://example.org/your/stopline .
#
# Stages: `build` (all dependencies, compiles src/ to dist/), `prod-deps` (production dependencies only) and the
# runtime stage, which holds nothing but Node.js, dist/, the production node_modules and package.json.
#
# Base images are pinned by tag here. For releases pin them by digest as well, e.g.
#   FROM node:24-bookworm-slim@sha256:<digest> AS build
#   FROM gcr.io/distroless/nodejs24-debian12:nonroot@sha256:<digest>
# and let Renovate or Dependabot bump the digests. Build and runtime stay on the same Node.js major (24, LTS) and
# the same Debian release (12, bookworm).

ARG NODE_BUILD_IMAGE=node:24-bookworm-slim
ARG NODE_RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# ---- build: dev dependencies + TypeScript compile -----------------------------------------------------------------
FROM ${NODE_BUILD_IMAGE} AS build
WORKDIR /src
# Lockfile first so the dependency layer stays cached while only sources change. No install scripts are needed.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/node.sh scripts/build.sh ./scripts/
COPY src ./src
# npm run build = scripts/build.sh: tsc, then the files under src/ that are not TypeScript (the Redis Lua scripts,
# read at run time beside the compiled modules) copied into dist/.
RUN npm run build

# ---- prod-deps: production dependencies only ----------------------------------------------------------------------
FROM ${NODE_BUILD_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime: distroless Node.js 24, no shell, no package manager ------------------------------------------------
FROM ${NODE_RUNTIME_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="stopline" \
      org.opencontainers.image.description="Kubernetes sidecar that relays LLM streams and stops them from any replica, with cancel state in Redis" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs24-debian12:nonroot"

ENV NODE_ENV=production
# V8's young generation grows to tens of MiB under a high allocation rate (every relayed chunk allocates a little),
# and opening many streams at once triggers that growth: memory a sidecar then holds. With semi-spaces capped at
# 4 MiB, the pod's memory follows its live streams instead; the price is more frequent minor GCs (under the
# benchmark's load, 13 instead of 3 per 5 s per replica, about 1.2 ms each). Override NODE_OPTIONS to change it.
ENV NODE_OPTIONS="--max-semi-space-size=4"
WORKDIR /app
# Files stay owned by root and read-only for the process user: stopline writes nothing to disk and runs with a
# read-only root filesystem.
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./package.json

# Numeric non-root user (distroless "nonroot"), so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532

# 8080: data plane (proxied traffic, cancel API). 9464: admin (/metrics, /healthz, /readyz, peer endpoints).
EXPOSE 8080 9464

# Exec form, node is PID 1 and receives SIGTERM directly: stopline handles SIGTERM/SIGINT itself (drain, then exit 0)
# and starts no child processes, so no init process (tini) is needed. The preload module starts OpenTelemetry only
# when OTEL_* variables ask for it. No HEALTHCHECK: Kubernetes ignores it; the chart defines the probes.
ENTRYPOINT ["/nodejs/bin/node", "--import", "./dist/tracing/preload.js", "dist/main.js"]
CMD []
