import { useState } from "preact/hooks";
import type { RoomView } from "../../../src/contract/views.ts";
import { type ChatClient, type ChatMessage, describeError, previews, type Tick } from "../chat.ts";
import { clockTime, fileSize, personLabel, preview, safeUrl, systemText } from "./common.tsx";

const QUICK_REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🙏"];
const EDIT_WINDOW_MS = 15 * 60_000;

const TICK_LABEL: Record<Tick, string> = {
  sending: "Sending",
  failed: "Not sent",
  sent: "Sent",
  delivered: "Delivered",
  read: "Read",
};
const TICK_ICON: Record<Tick, string> = {
  sending: "🕓",
  failed: "⚠",
  sent: "✓",
  delivered: "✓✓",
  read: "✓✓",
};

type Props = {
  client: ChatClient;
  room: RoomView;
  message: ChatMessage;
  grouped: boolean;
  onReply: () => void;
  onEdit: () => void;
  onForward: () => void;
};

export function MessageBubble({ client, room, message: m, grouped, onReply, onEdit, onForward }: Props) {
  const [menu, setMenu] = useState<null | "react" | "delete">(null);
  if (m.type === "system") {
    return (
      <div class="system-line" data-seq={m.seq}>
        <span>{systemText(m, client.me)}</span>
      </div>
    );
  }
  const mine = m.sender_id === client.me;
  const act = (p: Promise<unknown>) => {
    setMenu(null);
    p.catch((err) => client.notify("error", describeError(err)));
  };
  const tick = mine ? client.tick(m) : null;
  const replied = m.reply_to_id ? client.findMessage(m.room_id, m.reply_to_id) : undefined;
  const canEdit =
    mine &&
    m.type === "text" &&
    !m.deleted &&
    !m.outgoing &&
    Date.now() - Date.parse(m.created_at) < EDIT_WINDOW_MS;
  const reactions = Object.entries(m.reactions).filter(([, n]) => n > 0);

  return (
    <div
      class={`message ${mine ? "mine" : "theirs"}${grouped ? " grouped" : ""}`}
      data-seq={m.outgoing ? undefined : m.seq}
      data-client-id={m.client_id}
    >
      <div class={`bubble${m.deleted ? " deleted" : ""}`}>
        {!mine && room.type === "group" && !grouped ? <div class="sender">{m.sender_id}</div> : null}
        {m.forwarded ? (
          <div class="forwarded">↪ Forwarded{m.forwarded.many_times ? " many times" : ""}</div>
        ) : null}
        {m.reply_to_id ? (
          <div class="quote">
            <strong>{replied ? personLabel(replied.sender_id, client.me) : ""}</strong>
            <span>{replied ? preview(replied, client.me) : "Earlier message"}</span>
          </div>
        ) : null}
        {m.deleted ? <em class="text">This message was deleted</em> : <MediaView message={m} />}
        {!m.deleted && m.text ? (
          <div class="text" dir="auto">
            {withMentions(m.text, m.mentions)}
          </div>
        ) : null}
        <div class="meta">
          {m.starred ? (
            <span role="img" aria-label="starred">
              ★
            </span>
          ) : null}
          {m.edited_at && !m.deleted ? <span>edited</span> : null}
          <time dateTime={m.created_at}>{clockTime(m.created_at)}</time>
          {tick ? (
            <span
              class={`tick tick-${tick}`}
              role="img"
              aria-label={TICK_LABEL[tick]}
              title={TICK_LABEL[tick]}
            >
              {TICK_ICON[tick]}
            </span>
          ) : null}
        </div>
        {reactions.length > 0 ? (
          <div class="reactions">
            {reactions.map(([emoji, n]) => (
              <button
                type="button"
                key={emoji}
                class={`reaction${m.my_reaction === emoji ? " mine" : ""}`}
                aria-label={`${emoji} ${n}${m.my_reaction === emoji ? ", yours: remove" : ""}`}
                onClick={() => act(client.react(m, emoji))}
              >
                {emoji} {n}
              </button>
            ))}
          </div>
        ) : null}
      </div>
      {m.outgoing?.status === "failed" ? (
        <div class="failed" role="alert">
          <span>{m.outgoing.error}</span>
          {m.outgoing.retryable ? (
            <button type="button" class="link-button" onClick={() => void client.retry(m)}>
              Retry
            </button>
          ) : null}
          <button type="button" class="link-button" onClick={() => client.discard(m)}>
            Delete
          </button>
        </div>
      ) : null}
      {!m.outgoing && !m.deleted ? (
        <div class="actions" role="toolbar" aria-label="Message actions">
          <button type="button" aria-label="Reply" title="Reply" onClick={onReply}>
            ↩
          </button>
          <button
            type="button"
            aria-label="React"
            title="React"
            aria-expanded={menu === "react"}
            onClick={() => setMenu(menu === "react" ? null : "react")}
          >
            ☺
          </button>
          {canEdit ? (
            <button type="button" aria-label="Edit" title="Edit" onClick={onEdit}>
              ✎
            </button>
          ) : null}
          <button
            type="button"
            aria-label={m.starred ? "Unstar" : "Star"}
            title={m.starred ? "Unstar" : "Star"}
            onClick={() => act(client.star(m, !m.starred))}
          >
            {m.starred ? "★" : "☆"}
          </button>
          <button type="button" aria-label="Forward" title="Forward" onClick={onForward}>
            ↪
          </button>
          <button
            type="button"
            aria-label="Delete"
            title="Delete"
            aria-expanded={menu === "delete"}
            onClick={() => setMenu(menu === "delete" ? null : "delete")}
          >
            🗑
          </button>
        </div>
      ) : null}
      {menu === "react" ? (
        <div class="popover" role="menu" aria-label="Reactions">
          {QUICK_REACTIONS.map((e) => (
            <button
              type="button"
              role="menuitem"
              key={e}
              aria-label={`React ${e}`}
              onClick={() => act(client.react(m, e))}
            >
              {e}
            </button>
          ))}
        </div>
      ) : null}
      {menu === "delete" ? (
        <div class="popover" role="menu" aria-label="Delete">
          <button type="button" role="menuitem" onClick={() => act(client.remove(m, "me"))}>
            Delete for me
          </button>
          {mine || room.type === "group" ? (
            <button type="button" role="menuitem" onClick={() => act(client.remove(m, "everyone"))}>
              Delete for everyone
            </button>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

/** The picture being sent, from this device; a file that is not a picture shows its name. */
function LocalPreview({ url, name }: { url: string; name: string }) {
  const [broken, setBroken] = useState(false);
  if (broken) return <span class="media-note">{name}</span>;
  return <img src={url} alt={name} onError={() => setBroken(true)} />;
}

/** Mentions of members stand out; everything else is plain text (never HTML). */
function withMentions(text: string, mentions: string[]) {
  if (mentions.length === 0) return text;
  const parts = text.split(/(@[A-Za-z0-9_.:-]{1,64})/g);
  return parts.map((part, i) =>
    part.startsWith("@") && mentions.includes(part.slice(1)) ? (
      <span key={i} class="mention">
        {part}
      </span>
    ) : (
      part
    ),
  );
}

/**
 * Pictures show the blurred placeholder first, then the thumbnail over it once loaded; while
 * the server still works on the file, the sender sees their own local copy.
 */
function MediaView({ message: m }: { message: ChatMessage }) {
  const media = m.media;
  const local = m.outgoing?.previewUrl ?? previews.get(m.id);
  if (m.type === "image") {
    const ratio = media?.width && media.height ? `${media.width} / ${media.height}` : "4 / 3";
    const ready = media?.status === "ready" && media.thumbnail_url;
    return (
      <a
        class={`picture${ready ? " ready" : ""}`}
        href={safeUrl(media?.url)}
        target="_blank"
        rel="noreferrer"
        style={{
          aspectRatio: ratio,
          backgroundImage: media?.placeholder ? `url("${media.placeholder}")` : undefined,
        }}
        aria-label={media?.filename ?? "Photo"}
      >
        {ready ? (
          <img src={safeUrl(media.thumbnail_url)} alt={media.filename} loading="lazy" />
        ) : local ? (
          <LocalPreview url={local} name={m.outgoing?.file?.name ?? "photo"} />
        ) : media?.status === "failed" ? (
          <span class="media-note">Could not load this photo</span>
        ) : (
          <span class="media-note">Processing…</span>
        )}
      </a>
    );
  }
  if (m.type === "video" && media?.status === "ready" && media.url) {
    return (
      // biome-ignore lint/a11y/useMediaCaption: people's own clips come without a caption track
      <video
        class="video"
        src={safeUrl(media.url)}
        poster={safeUrl(media.thumbnail_url)}
        controls
        preload="none"
      />
    );
  }
  // biome-ignore lint/a11y/useMediaCaption: voice notes and songs come without a caption track
  if (m.type === "audio" && media?.url) return <audio src={safeUrl(media.url)} controls preload="none" />;
  if (m.type === "file" || m.type === "video" || m.type === "audio") {
    const name = media?.filename ?? m.outgoing?.file?.name ?? "file";
    const size = media?.size ?? m.outgoing?.file?.size ?? 0;
    return (
      <a class="file" href={safeUrl(media?.url)} download={name} aria-label={`Download ${name}`}>
        <span class="file-icon" aria-hidden="true">
          📄
        </span>
        <span class="file-name">{name}</span>
        <span class="muted">{fileSize(size)}</span>
      </a>
    );
  }
  return null;
}
