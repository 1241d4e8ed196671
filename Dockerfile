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
ENV NODE_ENV=production \
    PORT=8080 \
    ENDPOINTS_SPEC=/etc/endpoints/endpoint.yaml
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY openapi ./openapi
# The image's own user: no root at run time.
USER node
EXPOSE 8080
# Mount or copy the spec to $ENDPOINTS_SPEC, or pass --spec.
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve"]
