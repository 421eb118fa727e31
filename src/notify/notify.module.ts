import type { MessageReader } from "../messages/message.reader.ts";
import type { Platform } from "../platform/platform.ts";
import { NotifyJobs, notifyQueue } from "./notify.queue.ts";
import { NotifyUseCase } from "./notify.usecase.ts";
import { createPushProvider } from "./providers/provider.factory.ts";

/** Notifications: the producer other features queue pushes with, and the notify pool's jobs. */
export function notifyModule(p: Platform) {
  return {
    jobs: new NotifyJobs(p.jobs(notifyQueue)),
    /** The notify pool's jobs, reading messages as they are when it pushes. */
    notifyJobs(reader: Pick<MessageReader, "views">) {
      const provider = createPushProvider(p.config, p.logger);
      p.onClose(() => provider.close());
      const useCase = new NotifyUseCase({
        store: p.store,
        redis: p.redis,
        keys: p.keys,
        provider,
        logger: p.logger,
        reader,
      });
      return {
        "notify-messages": ({ message_ids }: { message_ids: string[] }) => useCase.messageIds(message_ids),
        "clear-room": ({
          user_id,
          room_id,
          read_seq,
        }: {
          user_id: string;
          room_id: string;
          read_seq: number;
        }) => useCase.clearRoom(user_id, room_id, read_seq),
      };
    },
  };
}
