import { existsSync } from "node:fs";
import path from "node:path";
import express, { Router } from "express";

/** Where `npm run build:web` (Vite) writes the client. */
export const WEB_DIST = path.resolve(import.meta.dirname, "../../web/dist");

/**
 * The bundled web client at `/`: index.html never cached (it names the current bundle), the
 * hashed bundle files under /assets cached for good. Null when the client was not built (the
 * API then serves only the API; main.ts says so).
 */
export function webClientRoutes(csp: string, dist = WEB_DIST): Router | null {
  if (!existsSync(path.join(dist, "index.html"))) return null;
  const router = Router();
  router.use(
    express.static(dist, {
      index: "index.html",
      redirect: false,
      setHeaders: (res, file) => {
        if (file.endsWith(".html")) res.setHeader("Content-Security-Policy", csp);
        // Only the bundle's files have a content hash in their name: only they are kept for good.
        const hashed = path.relative(dist, file).startsWith(`assets${path.sep}`);
        res.setHeader("Cache-Control", hashed ? "public, max-age=31536000, immutable" : "no-cache");
      },
    }),
  );
  return router;
}
