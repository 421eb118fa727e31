import { Router } from "express";
import { currentUser } from "../auth/auth.middleware.ts";
import { parse } from "../errors.ts";
import { deviceParamsSchema, registerDeviceSchema } from "./devices.schemas.ts";
import type { DevicesService } from "./devices.service.ts";

/** API.md 25–27. */
export function devicesRoutes(devices: DevicesService): Router {
  const router = Router();

  router.post("/devices", async (req, res) => {
    const { device, created } = await devices.register(
      currentUser(req),
      parse(registerDeviceSchema, req.body),
    );
    res.status(created ? 201 : 200).json({ device });
  });

  router.get("/devices", async (req, res) => {
    res.json({ devices: await devices.list(currentUser(req)) });
  });

  router.delete("/devices/:device_id", async (req, res) => {
    const { device_id } = parse(deviceParamsSchema, req.params);
    await devices.remove(currentUser(req), device_id);
    res.status(204).end();
  });

  return router;
}
