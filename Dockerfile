# syntax=docker/dockerfile:1
# endpoints-gateway: build with the full toolchain, run with production
# dependencies only on a small Node 24 image, as a non-root user.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:24-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM node:24-bookworm-slim
# Caches that make each cold start cheaper: Node's bytecode cache and our
# validated-spec cache, both owned by the runtime user. With a read-only root
# file system, mount a writable volume at /app/.cache (deploy/kubernetes/ mounts
# an emptyDir); otherwise the gateway logs one "cache folder not writable" line
# and starts without them.
# V8's heap limits, the same as dist/cli.js's shebang sets: without them V8 sizes
# its young generation and old-space growth to the host, and RSS after load passes
# 400 MiB where Cloud Run gives 512 MiB. Caps of 8 MiB per semi-space and 128 MiB
# old space keep it under 200 MiB at no cost in throughput (npm run bench;
# bench/memory.ts). Here node starts with them at once; an operator's NODE_OPTIONS
# that lack one make the CLI restart itself in place with it added (their own
# limits, when they give one, are kept).
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=128" \
    PORT=8080 \
    ENDPOINTS_SPEC=/etc/endpoints/endpoint.yaml \
    ENDPOINTS_CACHE_DIR=/app/.cache/specs \
    NODE_COMPILE_CACHE=/app/.cache/node
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY openapi ./openapi
RUN mkdir -p /app/.cache/specs /app/.cache/node && chown -R node:node /app/.cache && chmod 700 /app/.cache/specs
# The image's own user: no root at run time.
USER node
# An image that bakes its spec in warms both caches at build time, e.g.:
#   FROM endpoints-gateway
#   COPY endpoint.yaml /etc/endpoints/endpoint.yaml
#   RUN ["node", "dist/cli.js", "validate"]
EXPOSE 8080
# Mount or copy the spec to $ENDPOINTS_SPEC, or pass --spec.
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve"]
