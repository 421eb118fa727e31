import { defineConfig } from "vite";

// The client is served by the API at `/` (src/web/web-client.routes.ts): same origin for REST,
// Socket.IO and local media, so no CORS and no base URL to configure.
export default defineConfig({
  root: import.meta.dirname,
  base: "/",
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", reportCompressedSize: false },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
});
