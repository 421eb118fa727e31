import { z } from "zod";
import { deviceIdSchema } from "../contract/ids.ts";

/** REST 25. FCM and APNs tokens are printable ASCII without spaces. */
export const registerDeviceSchema = z.strictObject({
  device_id: deviceIdSchema,
  platform: z.enum(["ios", "android", "web", "desktop"]),
  push_token: z
    .string()
    .regex(/^[\x21-\x7e]{1,4096}$/, "printable ASCII without spaces, at most 4096 characters")
    .nullable()
    .optional(),
  app_version: z
    .string()
    .regex(/^[\x20-\x7e]{1,64}$/, "printable ASCII, at most 64 characters")
    .nullable()
    .optional(),
});
export type RegisterDeviceInput = z.infer<typeof registerDeviceSchema>;

export const deviceParamsSchema = z.object({ device_id: deviceIdSchema });
