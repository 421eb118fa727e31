import { useLayoutEffect, useRef, useState } from "preact/hooks";
import type { RoomView } from "../../../src/contract/views.ts";
import { type ChatClient, type ChatMessage, describeError, peerOf, roomTitle } from "../chat.ts";
import { Composer } from "./Composer.tsx";
import { Avatar, clockTime, Modal, personLabel, shortTime } from "./common.tsx";
import { MessageBubble } from "./MessageBubble.tsx";

export function ChatView({ client, room }: { client: ChatClient; room: RoomView }) {
  const tl = client.timeline(room.id);
  const listRef = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const firstId = useRef<string | undefined>(undefined);
  const heightBefore = useRef(0);
  const [replyTo, setReplyTo] = useState<ChatMessage | null>(null);
  const [editing, setEditing] = useState<ChatMessage | null>(null);
  const [forwarding, setForwarding] = useState<ChatMessage | null>(null);
  const peer = peerOf(room, client.me);
  const title = roomTitle(room, client.me);
  const typists = client.typists(room.id);

  // Keep the view at the bottom while it is there; when older messages arrive on top, keep the
  // messages in view where they were.
  useLayoutEffect(() => {
    const el = listRef.current;
    if (!el) return;
    const first = tl.messages[0]?.id;
    if (firstId.current && first !== firstId.current && !stick.current) {
      el.scrollTop += el.scrollHeight - heightBefore.current;
    } else if (stick.current) {
      el.scrollTop = el.scrollHeight;
    }
    firstId.current = first;
    heightBefore.current = el.scrollHeight;
  });

  const onScroll = () => {
    const el = listRef.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    heightBefore.current = el.scrollHeight;
    if (el.scrollTop < 200 && tl.hasMore && !tl.loading) {
      client.loadOlder(room.id).catch((err) => client.notify("error", describeError(err)));
    }
  };

  const act = (p: Promise<unknown>) => p.catch((err) => client.notify("error", describeError(err)));

  let subtitle: string;
  if (typists.length > 0)
    subtitle =
      room.type === "group"
        ? `${typists.map((t) => personLabel(t, client.me)).join(", ")} typing…`
        : "typing…";
  else if (peer && !client.connected) subtitle = "";
  else if (peer) {
    const p = client.presence.get(peer);
    subtitle = p?.online
      ? "online"
      : p?.last_seen_at
        ? `last seen ${shortTime(p.last_seen_at)} ${clockTime(p.last_seen_at)}`
        : "";
  } else subtitle = `${room.members_count} members`;
  const muted = client.isMuted(room);
  const blocked = peer ? client.blocked.has(peer) : false;

  return (
    <section class="chat" aria-label={`Chat with ${title}`}>
      <header class="chat-header">
        <button
          type="button"
          class="icon-button back"
          aria-label="Back to chats"
          onClick={() => client.closeRoom()}
        >
          ←
        </button>
        <Avatar id={title} group={room.type === "group"} />
        <div class="chat-title">
          <h2>{title}</h2>
          <span class={`muted${typists.length ? " typing-text" : ""}`} aria-live="polite">
            {subtitle}
          </span>
        </div>
        <div class="chat-actions">
          <button
            type="button"
            class="chip"
            aria-pressed={room.settings.pinned}
            onClick={() => act(client.updateSettings(room.id, { pinned: !room.settings.pinned }))}
          >
            {room.settings.pinned ? "Unpin" : "Pin"}
          </button>
          <button
            type="button"
            class="chip"
            aria-pressed={muted}
            onClick={() =>
              act(
                client.updateSettings(room.id, {
                  muted_until: muted ? null : new Date(Date.now() + 365 * 86400_000).toISOString(),
                }),
              )
            }
          >
            {muted ? "Unmute" : "Mute"}
          </button>
          <button
            type="button"
            class="chip"
            aria-pressed={room.settings.archived}
            onClick={() => act(client.updateSettings(room.id, { archived: !room.settings.archived }))}
          >
            {room.settings.archived ? "Unarchive" : "Archive"}
          </button>
          {peer ? (
            <button
              type="button"
              class="chip"
              aria-pressed={blocked}
              onClick={() => act(client.setBlocked(peer, !blocked))}
            >
              {blocked ? "Unblock" : "Block"}
            </button>
          ) : null}
        </div>
      </header>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must take focus so the keyboard can scroll it */}
      <div class="messages" ref={listRef} onScroll={onScroll} role="log" aria-label="Messages" tabIndex={0}>
        {tl.loading ? <p class="loading">Loading…</p> : null}
        {tl.loaded && !tl.hasMore ? (
          <p class="start-of-chat">This is the start of your chat with {title}.</p>
        ) : null}
        {tl.messages.map((m, i) => (
          <MessageBubble
            key={m.outgoing ? m.client_id : m.id}
            client={client}
            room={room}
            message={m}
            grouped={tl.messages[i - 1]?.sender_id === m.sender_id && tl.messages[i - 1]?.type !== "system"}
            onReply={() => {
              setEditing(null);
              setReplyTo(m);
            }}
            onEdit={() => {
              setReplyTo(null);
              setEditing(m);
            }}
            onForward={() => setForwarding(m)}
          />
        ))}
      </div>
      {typists.length > 0 ? (
        <div class="typing-line" aria-hidden="true">
          <span class="dots">
            <i />
            <i />
            <i />
          </span>
        </div>
      ) : null}
      <Composer
        client={client}
        room={room}
        replyTo={replyTo}
        editing={editing}
        onDone={() => {
          setReplyTo(null);
          setEditing(null);
          stick.current = true;
        }}
      />
      {forwarding ? (
        <ForwardDialog client={client} message={forwarding} onClose={() => setForwarding(null)} />
      ) : null}
    </section>
  );
}

function ForwardDialog({
  client,
  message,
  onClose,
}: {
  client: ChatClient;
  message: ChatMessage;
  onClose: () => void;
}) {
  const [chosen, setChosen] = useState<string[]>([]);
  const rooms = client.roomList(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      await client.forward(message, chosen);
      client.notify("info", `Forwarded to ${chosen.length} chat${chosen.length === 1 ? "" : "s"}.`);
      onClose();
    } catch (err) {
      client.notify("error", describeError(err));
    }
  };
  return (
    <Modal title="Forward to…" onClose={onClose}>
      <form onSubmit={submit} class="stack">
        <ul class="pick-list">
          {rooms.map((r) => (
            <li key={r.id}>
              <label>
                <input
                  type="checkbox"
                  checked={chosen.includes(r.id)}
                  disabled={!chosen.includes(r.id) && chosen.length >= 5}
                  onChange={(e) =>
                    setChosen(
                      e.currentTarget.checked ? [...chosen, r.id] : chosen.filter((id) => id !== r.id),
                    )
                  }
                />{" "}
                {roomTitle(r, client.me)}
              </label>
            </li>
          ))}
        </ul>
        <p class="hint">Up to 5 chats.</p>
        <div class="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={chosen.length === 0}>
            Forward
          </button>
        </div>
      </form>
    </Modal>
  );
}
