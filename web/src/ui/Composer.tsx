import { useLayoutEffect, useRef, useState } from "preact/hooks";
import type { RoomView } from "../../../src/contract/views.ts";
import { type ChatClient, type ChatMessage, describeError } from "../chat.ts";
import { personLabel, preview } from "./common.tsx";

type Props = {
  client: ChatClient;
  room: RoomView;
  replyTo: ChatMessage | null;
  editing: ChatMessage | null;
  onDone: () => void;
};

export function Composer({ client, room, replyTo, editing, onDone }: Props) {
  const [text, setText] = useState("");
  const [mentionAt, setMentionAt] = useState<{ start: number; query: string } | null>(null);
  const [choice, setChoice] = useState(0);
  const input = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  // Ready to type on opening a chat, where there is a keyboard (not on touch screens, where
  // focus would pop the on-screen keyboard over the messages).
  useLayoutEffect(() => {
    if (matchMedia("(pointer: fine)").matches) input.current?.focus();
  }, []);

  // Before the next paint, so what is typed next lands on the text being edited.
  useLayoutEffect(() => {
    if (editing) setText(editing.text ?? "");
    if (editing || replyTo) input.current?.focus();
  }, [editing, replyTo]);

  const candidates = mentionAt
    ? (client.members.get(room.id) ?? [])
        .map((m) => m.user_id)
        .filter((id) => id !== client.me && id.toLowerCase().startsWith(mentionAt.query.toLowerCase()))
        .slice(0, 6)
    : [];

  const submit = async () => {
    const value = text;
    if (!value.trim()) return;
    setText("");
    setMentionAt(null);
    onDone();
    if (editing) {
      try {
        await client.edit(editing, value.trim());
      } catch (err) {
        setText(value);
        client.notify("error", describeError(err));
      }
      return;
    }
    await client.send(room.id, { text: value, replyToId: replyTo?.id ?? null });
  };

  const pick = (id: string) => {
    if (!mentionAt) return;
    const before = text.slice(0, mentionAt.start);
    const after = text.slice(mentionAt.start + 1 + mentionAt.query.length);
    setText(`${before}@${id} ${after}`);
    setMentionAt(null);
    input.current?.focus();
  };

  const onInput = (e: Event) => {
    const el = e.currentTarget as HTMLTextAreaElement;
    setText(el.value);
    client.typingInput(room.id);
    const upto = el.value.slice(0, el.selectionStart ?? el.value.length);
    const match = /(^|\s)@([A-Za-z0-9_.:-]{0,64})$/.exec(upto);
    if (match) {
      setMentionAt({ start: upto.length - (match[2]?.length ?? 0) - 1, query: match[2] ?? "" });
      setChoice(0);
    } else {
      setMentionAt(null);
    }
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (candidates.length > 0) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        setChoice((choice + (e.key === "ArrowDown" ? 1 : candidates.length - 1)) % candidates.length);
        return;
      }
      if (e.key === "Enter" || e.key === "Tab") {
        e.preventDefault();
        pick(candidates[choice] ?? candidates[0] ?? "");
        return;
      }
    }
    if (e.key === "Escape") {
      setMentionAt(null);
      if (editing || replyTo) {
        setText("");
        onDone();
      }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      void submit();
    }
  };

  const attach = (e: Event) => {
    const el = e.currentTarget as HTMLInputElement;
    const file = el.files?.[0];
    el.value = "";
    if (!file) return;
    const caption = text;
    setText("");
    onDone();
    void client.send(room.id, { text: caption, file, replyToId: replyTo?.id ?? null });
  };

  return (
    <div class="composer">
      {replyTo || editing ? (
        <div class="composer-context">
          <div>
            <strong>
              {editing
                ? "Editing"
                : `Replying to ${replyTo?.sender_id === client.me ? "yourself" : personLabel(replyTo?.sender_id ?? "", client.me)}`}
            </strong>
            <span>{preview((editing ?? replyTo) as ChatMessage, client.me)}</span>
          </div>
          <button
            type="button"
            class="icon-button"
            aria-label={editing ? "Cancel editing" : "Cancel reply"}
            onClick={() => {
              if (editing) setText("");
              onDone();
            }}
          >
            ✕
          </button>
        </div>
      ) : null}
      {candidates.length > 0 ? (
        <ul class="mention-list" aria-label="Mention a member">
          {candidates.map((id, i) => (
            <li key={id} class={i === choice ? "chosen" : undefined}>
              <button type="button" onMouseDown={(e) => e.preventDefault()} onClick={() => pick(id)}>
                @{id}
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      <div class="composer-row">
        <button
          type="button"
          class="icon-button"
          aria-label="Attach a photo or file"
          title="Attach"
          onClick={() => fileInput.current?.click()}
        >
          📎
        </button>
        <input
          ref={fileInput}
          type="file"
          class="visually-hidden"
          tabIndex={-1}
          aria-hidden="true"
          onChange={attach}
        />
        <label for="composer-input" class="visually-hidden">
          Message
        </label>
        <textarea
          id="composer-input"
          ref={input}
          rows={1}
          placeholder="Message"
          value={text}
          onInput={onInput}
          onKeyDown={onKeyDown}
          onBlur={() => client.stopTyping(room.id)}
        />
        <button
          type="button"
          class="send"
          aria-label={editing ? "Save edit" : "Send"}
          disabled={!text.trim()}
          onClick={() => void submit()}
        >
          ➤
        </button>
      </div>
    </div>
  );
}
