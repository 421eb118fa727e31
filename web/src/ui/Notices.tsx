import type { ChatClient } from "../chat.ts";

/** Errors and notes a person should see: never a failure dropped silently. */
export function Notices({ client }: { client: ChatClient }) {
  return (
    <div class="notices" role="status" aria-live="polite">
      {client.notices.map((n) => (
        <div key={n.id} class={`notice notice-${n.kind}`} role={n.kind === "error" ? "alert" : undefined}>
          <span>{n.text}</span>
          <button type="button" class="icon-button" aria-label="Dismiss" onClick={() => client.dismiss(n.id)}>
            ✕
          </button>
        </div>
      ))}
    </div>
  );
}
