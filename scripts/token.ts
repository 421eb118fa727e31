import { parseArgs } from "node:util";
import { z } from "zod";
import { signToken } from "../src/auth/jwt.ts";
import { loadConfigOrExit } from "../src/config/config.ts";
import { userIdSchema } from "../src/kernel/ids.ts";

// Usage: npm run token -- <user_id> [--name NAME] [--admin] [--ttl SECONDS]
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { name: { type: "string" }, admin: { type: "boolean" }, ttl: { type: "string" } },
});
const args = z
  .object({
    userId: userIdSchema,
    name: z.string().min(1).max(128).optional(),
    admin: z.boolean().default(false),
    ttl: z.coerce.number().int().positive().default(86_400),
  })
  .safeParse({ userId: positionals[0], name: values.name, admin: values.admin, ttl: values.ttl });
if (!args.success) {
  process.stderr.write(
    `usage: npm run token -- <user_id> [--name NAME] [--admin] [--ttl SECONDS]\n${z.prettifyError(args.error)}\n`,
  );
  process.exit(2);
}
const config = loadConfigOrExit();
if (config.jwt.kind !== "secret") {
  process.stderr.write(
    "JWT_PUBLIC_KEY is set: tokens come from your identity provider, not from this script\n",
  );
  process.exit(2);
}
process.stdout.write(
  `${signToken(config.jwt.secret, args.data.userId, {
    ...(args.data.name ? { name: args.data.name } : {}),
    admin: args.data.admin,
    expiresInS: args.data.ttl,
    ...(config.JWT_ISSUER ? { issuer: config.JWT_ISSUER } : {}),
    ...(config.JWT_AUDIENCE ? { audience: config.JWT_AUDIENCE } : {}),
  })}\n`,
);
