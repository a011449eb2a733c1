# The gateway's image: a build stage compiles the TypeScript and keeps only the production
# dependencies; the runtime stage holds dist/, those node_modules and package.json, run by a
# non-root user. docs/CONTAINER.md says how to build it, run it and start the simulators.
#
# BASE_IMAGE: any image with Node 20 or later (and npm, for the build stage) on a glibc Linux
# with /bin/sh. The default is the official one; test/image/ builds from a local Debian base.
ARG BASE_IMAGE=node:24-bookworm-slim

FROM ${BASE_IMAGE} AS build
# The registry npm ci installs from; a mirror is passed with --build-arg.
ARG NPM_CONFIG_REGISTRY=https://registry.npmjs.org/
WORKDIR /app
COPY package.json package-lock.json ./
# A registry behind a private certificate authority: pass its certificate as the build secret
# npm-ca. It is mounted for this step only and lands in no layer.
RUN --mount=type=secret,id=npm-ca \
    if [ -f /run/secrets/npm-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm-ca; fi; \
    npm ci --no-audit --no-fund
COPY . .
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf dist/test dist/.tsbuildinfo

FROM ${BASE_IMAGE}
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
# Owned by root and not writable by the user that runs them.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY container/entrypoint.sh container/healthcheck.mjs ./container/
# The one directory the gateway may write: STATE_FILE's budget snapshot, on a volume mounted here.
RUN mkdir -p /var/lib/ai-gateway && chown 10001:10001 /var/lib/ai-gateway
# Numeric, so that it works on a base image without a node user.
USER 10001:10001
EXPOSE 3000
# On SIGTERM the gateway drains: /health answers 503, in-flight requests get SHUTDOWN_GRACE_MS
# (10 s by default) to finish. Give it longer before the kill (docker stop -t 15,
# stop_grace_period: 15s in docker-compose.yaml).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "/app/container/healthcheck.mjs"]
ENTRYPOINT ["/app/container/entrypoint.sh"]
CMD ["gateway"]
