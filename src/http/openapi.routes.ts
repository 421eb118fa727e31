import { Router } from "express";
import { openApiDocument } from "./openapi.ts";
import { route } from "./route.ts";

/** `GET /api/v1/openapi.json`: public; built once, after every router is mounted. */
export function openApiRoutes(): Router {
  const router = Router();
  let doc: ReturnType<typeof openApiDocument> | undefined;
  route(
    router,
    "",
    {
      method: "get",
      path: "/api/v1/openapi.json",
      summary: "This OpenAPI 3.1 document",
      tag: "operations",
      access: "public",
      status: 200,
    },
    (_input, _req, res) => {
      doc ??= openApiDocument();
      res.json(doc);
    },
  );
  return router;
}
