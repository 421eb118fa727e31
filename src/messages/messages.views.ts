import type { MediaView, MessageView } from "../contract/views.ts";
import { initialMessageState, type MessageRecord, type MessageState } from "../store/store.ts";

/** A view without the fields that depend on who looks: what broadcasts to a room carry. */
export const neutral = (view: MessageView): MessageView => ({ ...view, my_reaction: null, starred: false });

/**
 * The wire shape of a message (the contract's MessageView; messages.schemas.ts checks that the
 * record is the view's first part): the immutable record with its current state laid over it;
 * a tombstone keeps its identity and loses its content. `rev` is the room revision of the
 * message's latest change. `media` is the view of the message's media, if it still exists
 * (the caller resolves it: MediaViews).
 */
export function toMessageView(
  m: MessageRecord,
  state: MessageState = initialMessageState(m),
  media: MediaView | null = null,
): MessageView {
  const deleted = state.deleted !== null;
  return {
    ...m,
    rev: state.rev,
    text: deleted ? null : (state.edit?.text ?? m.text),
    media_id: deleted ? null : m.media_id,
    media: deleted ? null : media,
    forwarded: m.forwarded ?? null,
    reactions: deleted ? {} : state.reactions,
    my_reaction: deleted ? null : state.my_reaction,
    starred: state.starred,
    edited_at: state.edit?.edited_at ?? null,
    deleted,
  };
}
