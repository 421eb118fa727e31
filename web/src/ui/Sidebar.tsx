import { useEffect, useState } from "preact/hooks";
import type { MessageView, RoomView } from "../../../src/contract/views.ts";
import { type ChatClient, describeError, roomTitle } from "../chat.ts";
import { Avatar, Modal, personLabel, preview, shortTime } from "./common.tsx";

export function Sidebar({ client, onSignOut }: { client: ChatClient; onSignOut: () => void }) {
  const [showArchived, setShowArchived] = useState(false);
  const [dialog, setDialog] = useState<"new" | "starred" | null>(null);
  const [query, setQuery] = useState("");
  const [results, setResults] = useState<MessageView[] | null>(null);
  const rooms = client.roomList(showArchived);
  const archivedCount = showArchived ? 0 : client.roomList(true).length;

  const search = async (e: Event) => {
    e.preventDefault();
    const q = query.trim();
    if (q.length === 0) {
      setResults(null);
      return;
    }
    if ([...q.split(/\s+/)].some((t) => [...t].length < 3)) {
      client.notify("info", "Search needs words of at least 3 letters.");
      return;
    }
    try {
      setResults((await client.rest.search(q)).messages);
    } catch (err) {
      client.notify("error", describeError(err));
    }
  };

  return (
    <aside class="sidebar" aria-label="Chats">
      <header class="sidebar-header">
        <Avatar id={client.me} />
        <div class="me">
          <strong>{client.me}</strong>
          <span class="muted">{client.connected ? "online" : "connecting…"}</span>
        </div>
        <button
          type="button"
          class="icon-button"
          aria-label="Starred messages"
          title="Starred messages"
          onClick={() => setDialog("starred")}
        >
          ★
        </button>
        <button
          type="button"
          class="icon-button"
          aria-label="New chat"
          title="New chat"
          onClick={() => setDialog("new")}
        >
          ✎
        </button>
        <button type="button" class="icon-button" aria-label="Sign out" title="Sign out" onClick={onSignOut}>
          ⎋
        </button>
      </header>
      <form class="search" onSubmit={search}>
        <label class="visually-hidden" for="search-input">
          Search messages
        </label>
        <input
          id="search-input"
          type="search"
          placeholder="Search messages"
          value={query}
          onInput={(e) => {
            setQuery(e.currentTarget.value);
            if (!e.currentTarget.value) setResults(null);
          }}
        />
      </form>
      {results ? (
        <MessageList
          client={client}
          title={`${results.length} result${results.length === 1 ? "" : "s"}`}
          messages={results}
          onClose={() => {
            setResults(null);
            setQuery("");
          }}
        />
      ) : (
        <nav class="room-list" aria-label={showArchived ? "Archived chats" : "Chats"}>
          {showArchived || archivedCount > 0 ? (
            <button type="button" class="archived-toggle" onClick={() => setShowArchived(!showArchived)}>
              {showArchived ? "← Back to chats" : `Archived (${archivedCount})`}
            </button>
          ) : null}
          <ul>
            {rooms.map((room) => (
              <RoomItem key={room.id} client={client} room={room} />
            ))}
          </ul>
          {client.ready && rooms.length === 0 ? (
            <p class="empty">{showArchived ? "No archived chats." : "No chats yet: start one with ✎."}</p>
          ) : null}
        </nav>
      )}
      {dialog === "new" ? <NewChatDialog client={client} onClose={() => setDialog(null)} /> : null}
      {dialog === "starred" ? <StarredDialog client={client} onClose={() => setDialog(null)} /> : null}
    </aside>
  );
}

function RoomItem({ client, room }: { client: ChatClient; room: RoomView }) {
  const title = roomTitle(room, client.me);
  const muted = client.isMuted(room);
  const typists = client.typists(room.id);
  const last = room.last_message;
  return (
    <li>
      <button
        type="button"
        class="room-item"
        aria-current={client.activeRoomId === room.id ? "true" : undefined}
        onClick={() => void client.openRoom(room.id)}
      >
        <Avatar id={title} group={room.type === "group"} />
        <span class="room-text">
          <span class="room-top">
            <span class="room-title">{title}</span>
            <span class="room-time">{last ? shortTime(last.created_at) : ""}</span>
          </span>
          <span class="room-bottom">
            <span class="room-preview">
              {typists.length > 0 ? (
                <em class="typing-text">typing…</em>
              ) : last ? (
                <>
                  {/* Styled, so a message whose text starts with "You:" cannot pass for one of ours. */}
                  {last.sender_id === client.me && last.type !== "system" ? (
                    <span class="you">You: </span>
                  ) : null}
                  {last.sender_id !== client.me && room.type === "group" && last.type !== "system"
                    ? `@${last.sender_id}: `
                    : null}
                  {preview(last, client.me)}
                </>
              ) : (
                "No messages yet"
              )}
            </span>
            {room.settings.pinned ? (
              <span class="flag" title="Pinned" role="img" aria-label="pinned">
                📌
              </span>
            ) : null}
            {muted ? (
              <span class="flag" title="Muted" role="img" aria-label="muted">
                🔕
              </span>
            ) : null}
            {room.unread_count > 0 ? (
              <span class={`badge${muted ? " badge-muted" : ""}`}>
                {room.unread_count > 999 ? "999+" : room.unread_count}
                <span class="visually-hidden"> unread</span>
              </span>
            ) : null}
          </span>
        </span>
      </button>
    </li>
  );
}

/** Search results and starred messages: click one to open its chat. */
function MessageList({
  client,
  title,
  messages,
  onClose,
}: {
  client: ChatClient;
  title: string;
  messages: MessageView[];
  onClose: () => void;
}) {
  return (
    <section class="message-results" aria-label={title}>
      <div class="results-header">
        <strong>{title}</strong>
        <button type="button" class="link-button" onClick={onClose}>
          Close
        </button>
      </div>
      <ul>
        {messages.map((m) => {
          const room = client.rooms.get(m.room_id);
          return (
            <li key={m.id}>
              <button
                type="button"
                class="result-item"
                onClick={() => {
                  onClose();
                  void client.openRoom(m.room_id);
                }}
              >
                <span class="room-top">
                  <span class="room-title">
                    {personLabel(m.sender_id, client.me)} · {room ? roomTitle(room, client.me) : "chat"}
                  </span>
                  <span class="room-time">{shortTime(m.created_at)}</span>
                </span>
                <span class="room-preview">{preview(m, client.me)}</span>
              </button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function NewChatDialog({ client, onClose }: { client: ChatClient; onClose: () => void }) {
  const [kind, setKind] = useState<"direct" | "group">("direct");
  const [userId, setUserId] = useState("");
  const [name, setName] = useState("");
  const [members, setMembers] = useState("");
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const room =
        kind === "direct"
          ? await client.createDirect(userId.trim())
          : await client.createGroup(
              name.trim(),
              members
                .split(/[\s,]+/)
                .map((m) => m.trim())
                .filter(Boolean),
            );
      onClose();
      void client.openRoom(room.id);
    } catch (err) {
      setError(describeError(err));
    }
  };

  return (
    <Modal title="New chat" onClose={onClose}>
      <form onSubmit={submit} class="stack">
        <fieldset class="segmented">
          <legend class="visually-hidden">Kind of chat</legend>
          <label>
            <input type="radio" name="kind" checked={kind === "direct"} onChange={() => setKind("direct")} />{" "}
            Person
          </label>
          <label>
            <input type="radio" name="kind" checked={kind === "group"} onChange={() => setKind("group")} />{" "}
            Group
          </label>
        </fieldset>
        {kind === "direct" ? (
          <>
            <label for="new-user">Their user id</label>
            <input
              id="new-user"
              required
              value={userId}
              onInput={(e) => setUserId(e.currentTarget.value)}
              placeholder="e.g. bob"
            />
          </>
        ) : (
          <>
            <label for="new-group-name">Group name</label>
            <input
              id="new-group-name"
              required
              maxLength={100}
              value={name}
              onInput={(e) => setName(e.currentTarget.value)}
            />
            <label for="new-group-members">Members (user ids, separated by commas)</label>
            <input
              id="new-group-members"
              value={members}
              onInput={(e) => setMembers(e.currentTarget.value)}
              placeholder="bob, carol"
            />
          </>
        )}
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
        <div class="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary">
            Start chat
          </button>
        </div>
      </form>
    </Modal>
  );
}

function StarredDialog({ client, onClose }: { client: ChatClient; onClose: () => void }) {
  const [messages, setMessages] = useState<MessageView[] | null>(null);
  useEffect(() => {
    client.rest.starred().then(
      (r) => setMessages(r.messages),
      (err) => {
        client.notify("error", describeError(err));
        onClose();
      },
    );
  }, [client, onClose]);
  return (
    <Modal title="Starred messages" onClose={onClose}>
      {messages === null ? (
        <p>Loading…</p>
      ) : messages.length === 0 ? (
        <p class="empty">Nothing starred yet.</p>
      ) : (
        <MessageList
          client={client}
          title={`${messages.length} starred`}
          messages={messages}
          onClose={onClose}
        />
      )}
    </Modal>
  );
}
