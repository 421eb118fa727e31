# One image for the API and every worker pool; the compose command picks the role.
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# The web client, built with the dev dependencies (Vite, Preact); only its output is kept.
FROM node:24-slim AS web
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web ./web
# The one server module the client shares: the error codes and their statuses.
COPY src/error-codes.ts ./src/error-codes.ts
RUN npm run build:web

FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
# The media pool spawns ffmpeg/ffprobe (video posters, durations).
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ecosystem.config.js ./
COPY src ./src
COPY workers ./workers
COPY scripts ./scripts
COPY --from=web /app/web/dist ./web/dist
# A named volume mounted here starts with this directory's owner, so the app can write SQLite.
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
CMD ["npm", "run", "start:api"]
