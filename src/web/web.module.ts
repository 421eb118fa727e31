import type { Platform } from "../platform/platform.ts";
import { webClientCsp } from "./web-client.csp.ts";
import { webClientRoutes } from "./web-client.routes.ts";

/** The bundled web client at `/`, when it was built. */
export function webModule(p: Platform) {
  const router = webClientRoutes(webClientCsp(p.config));
  if (!router) p.logger.warn("the web client is not built (npm run build:web): / serves nothing");
  return { routes: () => (router ? [router] : []) };
}
