import { newId } from "../src/kernel/ids.ts";
import type { MessageRecord, NewMember, Store } from "../src/store/store.ts";

/** Records and rooms written straight into a store, to build large histories fast. */
export function message(
  roomId: string,
  seq: number,
  sender: string,
  text: string,
  at: number,
): MessageRecord {
  return {
    id: newId(),
    room_id: roomId,
    seq,
    rev: seq,
    sender_id: sender,
    client_id: `c-${roomId}-${seq}`,
    type: "text",
    text,
    media_id: null,
    reply_to_id: null,
    mentions: [],
    system: null,
    created_at: new Date(at).toISOString(),
  };
}

export async function group(store: Store, creator: string, memberIds: string[]): Promise<string> {
  const now = new Date().toISOString();
  const members: NewMember[] = memberIds.map((id, i) => ({
    user_id: id,
    role: i === 0 ? "admin" : "member",
    joined_at: now,
  }));
  const room = await store.createGroupRoom(
    {
      id: newId(),
      type: "group",
      name: "bench",
      description: null,
      avatar_media_id: null,
      created_by: creator,
      created_at: now,
      updated_at: now,
      direct_key: null,
    },
    members,
  );
  return room.id;
}
