# syntax=docker/dockerfile:1.7
# One image for the five services; the command picks the service:
#   docker run tidemark dist/apps/dumper/src/main.js
# Build: docker build -t tidemark:dev .

ARG NODE_IMAGE=node:24-slim

# ---- build: full dependencies, then the same SWC compile the tests run (tools/build.mjs -> dist/) ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json ./
COPY tools ./tools
COPY apps ./apps
COPY libs ./libs
RUN node tools/build.mjs

# ---- prod-deps: production dependencies only, in a stage of their own so no dev package leaks in ----
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime ----
# glibc (not Alpine): the PGDG and MariaDB client builds are glibc builds, and musl's DNS and
# locale handling differ from what the database tools are tested with.
FROM ${NODE_IMAGE} AS runtime

# pg_dump N dumps servers up to N (back to 9.2) and pg_restore N reads archives from older pg_dumps,
# so one client, the newest major we support, covers every supported server. Debian's own package
# follows the distribution's major (15 on bookworm), which could not dump a 16/17 server, hence the
# PGDG repository. libs/sources-postgres finds /usr/lib/postgresql/<N>/bin by itself (TIDEMARK_PG_BIN overrides).
# The local tier (/var/lib/tidemark/backups), the archiver's WAL directory (/var/lib/tidemark/wal), both mounted
# volumes, and /tmp are the only places written.
ARG PG_MAJOR=17
# A physical backup's restore test starts the restored copy, with the server binaries (postgres, pg_ctl,
# pg_waldump) of exactly the cluster's major: one server package per major backed up physically. No cluster is
# created by the packages (createcluster.conf), nothing runs but what the verifier starts.
ARG PG_SERVER_MAJORS="15 16 17"
ADD --chmod=644 https://www.postgresql.org/media/keys/ACCC4CF8.asc /usr/share/keyrings/pgdg.asc
RUN set -eux; \
    . /etc/os-release; \
    echo "deb [signed-by=/usr/share/keyrings/pgdg.asc] https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list; \
    apt-get update; \
    install -d /etc/postgresql-common; \
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf; \
    apt-get install -y --no-install-recommends \
      ca-certificates tini zstd sqlite3 mariadb-client "postgresql-client-${PG_MAJOR}" \
      $(for major in ${PG_SERVER_MAJORS}; do echo "postgresql-${major}"; done); \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 tidemark; \
    useradd --system --uid 10001 --gid 10001 --home-dir /tmp --shell /usr/sbin/nologin tidemark; \
    install -d -o 10001 -g 10001 -m 0700 /var/lib/tidemark/backups /var/lib/tidemark/wal; \
    install -d -m 0755 /etc/tidemark

WORKDIR /app
# Owned by root and not writable by the service user: the code cannot be changed at run time, and the
# image works with a read-only root filesystem.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./

# NODE_OPTIONS: SERVICE_NODE_FLAGS of @tidemark/environment (a 1 MiB young generation: ~40 MiB less RSS per process).
# HOST: reachable from other containers and pods; the config's api.auth then must say who may call (README).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    NODE_OPTIONS=--max-semi-space-size=1 \
    TIDEMARK_CONFIG=/etc/tidemark/tidemark.yaml \
    TMPDIR=/tmp
USER 10001:10001

# The services default to ports 3000-3004; the scheduler's 3000 is the image default, the others are
# given PORT (compose and the Kubernetes manifests set it for every service, so this check finds them).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# tini reaps the dump tools' children and forwards SIGTERM, so a service can finish its current job.
ENTRYPOINT ["tini", "--", "node"]
CMD ["dist/apps/scheduler/src/main.js"]
