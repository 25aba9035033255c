# The Tenantry control plane as a container image, built from the npm packages as they are
# published (the tarballs `npm run check:packages` packs and checks into .ci/.work/packages):
#
#   npm run check:packages
#   docker build -t tenantry .          # or: buildah bud --format docker -t tenantry .
#   docker run --env-file tenantry.env -p 8080:8080 tenantry            # serve (the default)
#   docker run --env-file tenantry.env tenantry migrate                 # one-shot migration
#
# NODE_IMAGE is any Debian-based Node >= 22.12 image; CI builds against a local stand-in
# (scripts/ci-container.sh) because no registry is reachable there.
ARG NODE_IMAGE=docker.io/library/node:24-bookworm-slim

# --- build: production dependencies only, from the packed tarballs --------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY .ci/.work/packages/*.tgz /tmp/packages/
RUN printf '{"name":"tenantry-image","private":true,"type":"module"}\n' > package.json \
 && npm install --omit=dev --no-audit --no-fund --prefer-offline /tmp/packages/*.tgz \
 && rm -rf /tmp/packages

# --- runtime ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
# A fixed, numeric, unprivileged user, so Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 tenantry \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/tenantry --no-create-home tenantry \
 && mkdir -p /var/lib/tenantry \
 && chown 10001:10001 /var/lib/tenantry
COPY --from=build --chown=0:0 /app /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    TENANTRY_DATA_DIR=/var/lib/tenantry
WORKDIR /var/lib/tenantry
USER 10001:10001
EXPOSE 8080
# Ready means the database answers and the schema is current (GET /readyz). Node, not curl: the
# slim images have no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node runs as PID 1 with no init: `tenantry serve` handles SIGTERM and SIGINT itself (stops taking
# requests, finishes the ones in flight, closes the database, exits 0), and it starts no child
# processes, so there is nothing for an init to reap.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/node_modules/tenantry/bin/tenantry.js"]
CMD ["serve"]
