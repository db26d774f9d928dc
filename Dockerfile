# syntax=docker/dockerfile:1
# API gateway image: multi-stage, node:20-bookworm-slim.
#   docker build -t api-gateway .
#   docker run -p 8000:8000 api-gateway
# The build stage compiles the llparse response parser into an N-API addon (node-gyp) and the
# TypeScript into dist/; the runtime stage has no compiler and runs as the unprivileged `node`.

# Where `npm run build:parser` leaves the addon, relative to the package root. The runtime keeps
# the same relative path because the parser wrapper in dist/ loads it from there.
ARG ADDON_DIR=src/http1/build/Release
ARG ADDON_NAME=gw_resp.node

FROM node:20-bookworm-slim AS build
ARG ADDON_DIR
ARG ADDON_NAME
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# Compile against the headers of the node in this image instead of downloading them.
ENV npm_config_nodedir=/usr/local
WORKDIR /app
COPY package.json package-lock.json ./
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY config ./config
# npm ci runs `prepare` = `npm run build`: generate the C parser (tsx + llparse), node-gyp the
# addon, tsc to dist/. Then drop the dev dependencies for the runtime copy of node_modules.
RUN npm ci --no-audit --no-fund \
 && test -f "${ADDON_DIR}/${ADDON_NAME}" \
 && test -f dist/cli.js \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
ARG ADDON_DIR
ARG ADDON_NAME
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./package.json
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/config ./config
COPY --from=build --chown=node:node /app/${ADDON_DIR}/${ADDON_NAME} ./${ADDON_DIR}/${ADDON_NAME}
USER node
# 8000: proxy listener. 8001: admin API, which stays on 127.0.0.1 inside the container unless
# GATEWAY_ADMIN_HOST=0.0.0.0 is set (then protect it with GATEWAY_ADMIN_TOKEN).
EXPOSE 8000 8001
# The check runs inside the container, so the loopback-only admin API is reachable; it follows
# GATEWAY_ADMIN_PORT and sends GATEWAY_ADMIN_TOKEN when one is set.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const e=process.env,t=e.GATEWAY_ADMIN_TOKEN;fetch('http://127.0.0.1:'+(e.GATEWAY_ADMIN_PORT||8001)+'/health',{headers:t?{authorization:'Bearer '+t}:{}}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM from `docker stop` drains in-flight requests (GATEWAY_DRAIN_TIMEOUT_MS, default 10 s;
# docker's default stop timeout is 10 s too).
STOPSIGNAL SIGTERM
CMD ["node", "dist/cli.js", "start", "--demo-upstream"]
