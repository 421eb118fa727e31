import type { MessageRecord } from "../store/store.ts";

export type MessageView = MessageRecord & {
  media: null;
  forwarded: null;
  reactions: Record<string, number>;
  my_reaction: string | null;
  starred: boolean;
  edited_at: string | null;
  deleted: boolean;
};

/** The wire shape of a message (API.md "Message"); media, reactions and stars join in later features. */
export function toMessageView(m: MessageRecord): MessageView {
  return {
    ...m,
    media: null,
    forwarded: null,
    reactions: {},
    my_reaction: null,
    starred: false,
    edited_at: null,
    deleted: false,
  };
}
