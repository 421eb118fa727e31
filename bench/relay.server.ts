/**
 * The bare relay the benchmark compares against: the same Socket.IO server and Redis adapter,
 * doing only INCR + emit per message, and broadcasting the same message body as the full path
 * (so the ratio measures accept, group commit and persistence, not payload size). No auth,
 * validation, idempotency or persistence.
 */
import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Server } from "socket.io";
import { z } from "zod";
import { newId } from "../src/kernel/ids.ts";
import { toMessageView } from "../src/messages/messages.views.ts";
import { Keys } from "../src/redis/redis.ts";

const env = z
  .object({ PORT: z.coerce.number().int(), REDIS_URL: z.string(), REDIS_PREFIX: z.string() })
  .parse(process.env);
const keys = new Keys(env.REDIS_PREFIX);
const redis = new Redis(env.REDIS_URL);
const pub = new Redis(env.REDIS_URL);
const sub = new Redis(env.REDIS_URL);
const server = createServer();
const io = new Server(server, { adapter: createAdapter(pub, sub, { key: keys.socketKey }) });
const sendSchema = z.object({ room_id: z.string(), text: z.string() });

io.on("connection", (socket) => {
  const rooms = socket.handshake.auth.rooms;
  if (Array.isArray(rooms)) socket.join(rooms.map((r) => `room:${String(r)}`));
  socket.on("message:send", async (payload: unknown, ack: (r: unknown) => void) => {
    const { room_id, text } = sendSchema.parse(payload);
    // The same counter key as a room's seq on the full path (its bucket tag included).
    const seq = await redis.incr(keys.seq(room_id));
    const message = toMessageView({
      id: newId(),
      room_id,
      seq,
      rev: seq,
      sender_id: "bench-user-0000",
      client_id: `relay-${seq}`,
      type: "text",
      text,
      media_id: null,
      reply_to_id: null,
      mentions: [],
      system: null,
      created_at: new Date().toISOString(),
    });
    io.to(`room:${room_id}`).emit("message:new", { message });
    ack({ ok: true, message });
  });
});
server.listen(env.PORT, "127.0.0.1", () => process.stdout.write("ready\n"));
process.once("SIGTERM", () => {
  io.close();
  for (const c of [redis, pub, sub]) c.disconnect();
  process.exit(0);
});
