import { Router } from "express";
import { currentUser } from "../auth/auth.middleware.ts";
import { bodies } from "../http/responses.ts";
import { CHAT_BASE, route } from "../http/route.ts";
import { deviceParamsSchema, registerDeviceSchema } from "./devices.schemas.ts";
import type { DevicesService } from "./devices.service.ts";

/** API.md 25–27. */
export function devicesRoutes(devices: DevicesService): Router {
  const router = Router();

  route(
    router,
    CHAT_BASE,
    {
      method: "post",
      path: "/devices",
      summary: "Register or update a device (201 when new)",
      tag: "devices",
      body: registerDeviceSchema,
      status: [201, 200],
      response: bodies.device,
      errors: ["conflict"],
    },
    async ({ body }, req, res) => {
      const { device, created } = await devices.register(currentUser(req), body);
      res.status(created ? 201 : 200).json({ device });
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "get",
      path: "/devices",
      summary: "The caller's devices",
      tag: "devices",
      status: 200,
      response: bodies.devices,
    },
    async (_input, req, res) => {
      res.json({ devices: await devices.list(currentUser(req)) });
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "delete",
      path: "/devices/:device_id",
      summary: "Remove a device and its sync cursors",
      tag: "devices",
      params: deviceParamsSchema,
      status: 204,
    },
    async ({ params }, req, res) => {
      await devices.remove(currentUser(req), params.device_id);
      res.status(204).end();
    },
  );

  return router;
}
