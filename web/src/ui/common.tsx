import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import type { MessageView } from "../../../src/contract/views.ts";

/** A coloured initial; the colour follows the name, so a person keeps theirs everywhere. */
export function Avatar({ id, group = false }: { id: string; group?: boolean }) {
  let hash = 0;
  for (const c of id) hash = (hash * 31 + (c.codePointAt(0) ?? 0)) >>> 0;
  const initial = [...id][0]?.toUpperCase() ?? "?";
  return (
    <span class={`avatar hue-${hash % 8}${group ? " avatar-group" : ""}`} aria-hidden="true">
      {initial}
    </span>
  );
}

/** A modal built on <dialog>: focus is kept inside, Escape closes it. */
export function Modal({
  title,
  onClose,
  children,
}: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog ref={ref} class="modal" aria-label={title} onClose={onClose}>
      <header class="modal-header">
        <h2>{title}</h2>
        <button type="button" class="icon-button" aria-label="Close" onClick={onClose}>
          ✕
        </button>
      </header>
      {children}
    </dialog>
  );
}

const MEDIA_LABEL: Record<string, string> = {
  image: "📷 Photo",
  video: "🎥 Video",
  audio: "🎵 Audio",
  file: "📄 File",
};

/**
 * How a person is named in running text: "You" for the viewer, "@id" for anyone else. The "@"
 * keeps apart the viewer and someone whose user id is "You" (ids are chosen by their owners).
 */
export function personLabel(userId: string, me: string): string {
  return userId === me ? "You" : `@${userId}`;
}

/** One line for a room list, a quote or a search result. */
export function preview(m: MessageView, me: string): string {
  if (m.deleted) return "This message was deleted";
  if (m.type === "system") return systemText(m, me);
  const label = MEDIA_LABEL[m.type];
  if (label)
    return m.text
      ? `${label.split(" ")[0]} ${m.text}`
      : m.media?.filename && m.type === "file"
        ? `📄 ${m.media.filename}`
        : label;
  return m.text ?? "";
}

export function systemText(m: MessageView, me: string): string {
  const s = m.system;
  if (!s) return "";
  const actor = personLabel(s.actor_id, me);
  const who = (ids: string[]) => ids.map((u) => personLabel(u, me)).join(", ");
  switch (s.event) {
    case "members_added":
      return `${actor} added ${who(s.user_ids)}`;
    case "members_removed":
      return s.user_ids.length === 1 && s.user_ids[0] === s.actor_id
        ? `${actor} left`
        : `${actor} removed ${who(s.user_ids)}`;
    case "role_changed":
      return `${actor} made ${who(s.user_ids)} ${s.role === "admin" ? "an admin" : "a member"}`;
    case "room_updated":
      return `${actor} changed the group's ${s.fields.join(" and ")}`;
    default:
      // An event newer than this client.
      return "";
  }
}

export function shortTime(iso: string): string {
  const d = new Date(iso);
  const now = new Date();
  if (d.toDateString() === now.toDateString())
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return d.toLocaleDateString([], { day: "numeric", month: "short" });
}

export function clockTime(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function fileSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Only http(s) links from the server are followed (never javascript: or data: in an href). */
export function safeUrl(url: string | null | undefined): string | undefined {
  return url && /^https?:\/\//i.test(url) ? url : undefined;
}
