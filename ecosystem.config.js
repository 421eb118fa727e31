// PM2 process file for `npm start` (pm2-runtime). Each pool scales on its own; counts come
// from the environment. The API runs in cluster mode with ONE instance by default: Socket.IO's
// long-polling transport (where a default client starts) keeps its session in one process,
// and PM2's cluster balances requests round-robin without sticky sessions. With
// API_INSTANCES > 1 here, clients must connect websocket-only (`transports: ["websocket"]`);
// to scale out with polling clients, run API processes on their own ports behind a proxy with
// sticky sessions (README "Scaling the API").
const env = (name, fallback) => process.env[name] ?? fallback;
const common = {
  // The Node that runs pm2-runtime (Node 24 from node_modules under npm scripts) runs the apps.
  interpreter: process.execPath,
  kill_timeout: Number(env("SHUTDOWN_TIMEOUT_MS", "10000")) + 5000,
  // Up only once the process says so (process.send("ready") when it serves or works its queue).
  wait_ready: true,
  listen_timeout: 30000,
  max_memory_restart: "1G",
  max_restarts: 50,
  restart_delay: 1000,
  merge_logs: true,
};

// Named export: PM2 loads this file with require(), which yields the module's namespace.
export const apps = [
  {
    ...common,
    name: "api",
    script: "src/main.ts",
    exec_mode: "cluster",
    instances: Number(env("API_INSTANCES", "1")),
  },
  {
    ...common,
    name: "persist",
    script: "workers/main.ts",
    args: "persist",
    exec_mode: "fork",
    instances: Number(env("PERSIST_INSTANCES", "1")),
  },
  {
    ...common,
    name: "fanout",
    script: "workers/main.ts",
    args: "fanout",
    exec_mode: "fork",
    instances: Number(env("FANOUT_INSTANCES", "1")),
  },
  {
    ...common,
    name: "notify",
    script: "workers/main.ts",
    args: "notify",
    exec_mode: "fork",
    instances: Number(env("NOTIFY_INSTANCES", "1")),
  },
  {
    ...common,
    name: "media",
    script: "workers/main.ts",
    args: "media",
    exec_mode: "fork",
    instances: Number(env("MEDIA_INSTANCES", "1")),
    // A thumbnail job must finish before PM2 kills the process (ffmpeg's limit bounds it).
    kill_timeout: Math.max(common.kill_timeout, Number(env("MEDIA_FFMPEG_TIMEOUT_MS", "30000")) + 5000),
    max_memory_restart: "768M",
  },
];
