# syntax=docker/dockerfile:1
# ecommerce-api: build with the compilers on node:20-bookworm, run on the slim image
# with production dependencies and dist/ only.
#   docker build -t ecommerce-api .
#   docker run -p 3000:3000 -v ecommerce-data:/data ecommerce-api

FROM node:20-bookworm AS build
WORKDIR /app
# Dependencies first, so source changes keep this layer. argon2 and better-sqlite3
# build from source here (python3, make and g++ are in this image).
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY plugins plugins
COPY routes routes
# dist/ (with the migrations folders copied beside the compiled store), then drop the
# devDependencies and the native modules' intermediate build files.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/better-sqlite3/build/Release/obj* node_modules/better-sqlite3/build/Release/.deps \
           node_modules/better-sqlite3/build/Release/test_extension.node node_modules/better-sqlite3/build/Release/sqlite3.a \
           node_modules/better-sqlite3/deps node_modules/better-sqlite3/src \
           node_modules/argon2/build/Release/obj.target node_modules/argon2/prebuilds \
 && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
# The only directory the service writes (SQLite database, generated keys); owned by
# uid 1000 so that a fresh named volume is too.
RUN mkdir -p /data && chown 1000:1000 /data && chmod 0700 /data
VOLUME ["/data"]
# By number, so that Kubernetes' runAsNonRoot can check it (uid 1000 is `node`).
USER 1000:1000
EXPOSE 3000
# No curl in the image: Node's fetch asks the readiness route.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node is PID 1 and receives SIGTERM itself: the service drains (SHUTDOWN_DRAIN_MS),
# stops accepting, finishes in-flight requests and closes the database; it exits at
# the latest 10 s after the drain, so give `docker stop` 20 s.
STOPSIGNAL SIGTERM
# As npm start: the young-generation cap, and the entry point that sizes libuv's pool
# before any ES module loads. Operator commands: node dist/src/cli/migrate.js,
# node dist/src/cli/rotate-keys.js, node dist/src/cli/demo-catalogue.js.
CMD ["node", "--max-semi-space-size=8", "dist/src/main.cjs"]
