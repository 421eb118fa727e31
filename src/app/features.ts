import { mediaModule } from "../media/media.module.ts";
import type { DeletedMediaUsers } from "../media/media.service.ts";
import { membershipModule } from "../membership/membership.module.ts";
import { type MessagesModule, messagesModule } from "../messages/messages.module.ts";
import { notifyModule } from "../notify/notify.module.ts";
import type { Platform } from "../platform/platform.ts";
import type { Broadcaster } from "../realtime/adapter.ts";

/**
 * The features every process builds the same way (the API and each pool): membership, media,
 * messages and the notify producer. Media and messages use each other (a message carries media;
 * who may see a media depends on the messages that carry it): each gets the other through a port,
 * bound once both exist.
 */
export function coreFeatures(p: Platform, broadcaster: Broadcaster, avatars?: DeletedMediaUsers) {
  const membership = membershipModule(p);
  const notify = notifyModule(p);
  let messages: MessagesModule | undefined;
  const reader = () => {
    if (!messages) throw new Error("messages module not built yet");
    return messages.reader;
  };
  const media = mediaModule(p, {
    visibility: {
      record: (id) => reader().record(id),
      views: (records, viewerId, dropHidden) => reader().views(records, viewerId, dropHidden),
    },
    ...(avatars ? { avatars } : {}),
  });
  messages = messagesModule(p, {
    members: membership.members,
    broadcaster,
    views: media.views,
    attachments: () => media.service,
    notify: notify.jobs,
  });
  return { membership, notify, media, messages };
}
export type CoreFeatures = ReturnType<typeof coreFeatures>;
