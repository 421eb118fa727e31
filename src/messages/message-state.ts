import type { MessageOp, MessageState, ReactionRow } from "../store/store.ts";

/**
 * Applies pending ops of one message to its stored state, with the store's rules (store.ts
 * MessageOp): per field the highest rev wins, a delete and a hide stick. An op the store has
 * already applied changes nothing, so the overlay is right whichever ops are still pending.
 * `reactionRows` (every user's stored reaction) is needed only when a react op is pending.
 */
export function overlayOps(
  stored: MessageState,
  ops: MessageOp[],
  viewerId: string,
  reactionRows: ReactionRow[] = [],
): MessageState {
  const s: MessageState = { ...stored, reactions: { ...stored.reactions } };
  const reactions = new Map(reactionRows.map((r) => [r.user_id, { emoji: r.emoji, rev: r.rev }]));
  let reactionsChanged = false;
  for (const op of ops) {
    switch (op.kind) {
      case "edit":
        if (!s.edit || op.rev > s.edit.rev) s.edit = { text: op.text, edited_at: op.at, rev: op.rev };
        break;
      case "delete":
        if (!s.deleted || op.rev < s.deleted.rev) s.deleted = { at: op.at, rev: op.rev };
        break;
      case "react": {
        const current = reactions.get(op.user_id);
        if (!current || op.rev > current.rev) {
          reactions.set(op.user_id, { emoji: op.emoji, rev: op.rev });
          reactionsChanged = true;
        }
        if (op.user_id === viewerId && op.rev > s.my_reaction_rev) {
          s.my_reaction = op.emoji;
          s.my_reaction_rev = op.rev;
        }
        break;
      }
      case "hide":
        if (op.user_id !== viewerId) continue;
        s.hidden = true;
        break;
      case "star":
        if (op.user_id !== viewerId) continue;
        if (op.rev > s.star_rev) {
          s.starred = op.starred;
          s.star_rev = op.rev;
        }
        break;
      case "media":
        break;
    }
    s.rev = Math.max(s.rev, op.rev);
  }
  if (reactionsChanged) {
    s.reactions = {};
    for (const { emoji } of reactions.values())
      if (emoji !== null) s.reactions[emoji] = (s.reactions[emoji] ?? 0) + 1;
  }
  return s;
}
