import type { MediaChange, MediaLink, MediaRecord, MediaStatus, MediaStore } from "../store.ts";
import { type Db, keys } from "./couchbase.layout.ts";

/**
 * MediaStore on Couchbase: a document per media and per (media, message) link. The per-owner
 * quota is a document listing the owner's recent uploads: the check and the claim are one CAS
 * write, made before the media's own document (a crash in between over-counts an upload that
 * never existed until it ages out of the window, never under-counts).
 */
/**
 * Uploads are dropped from the quota list only this long before the window of the call that
 * writes it: concurrent callers' windows differ by their clocks, and an earlier window must
 * still find every upload it counts.
 */
const QUOTA_PRUNE_MARGIN_MS = 60 * 60 * 1000;

export class CouchbaseMedia implements MediaStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async createMedia(
    media: MediaRecord,
    quota?: { since: string; maxBytes: number },
  ): Promise<{ created: true } | { created: false; used: number }> {
    // Every upload is counted, with or without a quota (the window is the caller's).
    let used = 0;
    let fits = true;
    await this.#db.mediaQuota.update(media.owner_id, (doc) => {
      const others = (doc?.uploads ?? []).filter((u) => u.id !== media.id);
      const counted = quota ? others.filter((u) => u.created_at > quota.since) : others;
      used = counted.reduce((sum, u) => sum + u.size, 0);
      fits = !quota || used + media.size <= quota.maxBytes;
      if (!fits) return undefined;
      const horizon = quota && new Date(Date.parse(quota.since) - QUOTA_PRUNE_MARGIN_MS).toISOString();
      const kept = horizon ? others.filter((u) => u.created_at > horizon) : others;
      return { uploads: [...kept, { id: media.id, size: media.size, created_at: media.created_at }] };
    });
    if (!fits) return { created: false, used };
    await this.#db.media.insert(media.id, media);
    return { created: true };
  }

  getMedia(mediaId: string): Promise<MediaRecord | null> {
    return this.#db.media.value(mediaId);
  }

  getMediaMany(mediaIds: string[]): Promise<Map<string, MediaRecord>> {
    return this.#db.media.many(mediaIds);
  }

  async updateMedia(mediaId: string, from: MediaStatus[], change: MediaChange): Promise<MediaRecord | null> {
    const { value, changed } = await this.#db.media.update(mediaId, (doc) => {
      if (!doc || doc.deleted_at !== null || !from.includes(doc.status)) return undefined;
      for (const [field, v] of Object.entries(change)) {
        if (v !== undefined) Object.assign(doc, { [field]: v });
      }
      return doc;
    });
    return changed ? value : null;
  }

  async deleteMedia(mediaId: string, at: string): Promise<MediaRecord | null> {
    const { value } = await this.#db.media.update(mediaId, (doc) => {
      if (!doc || doc.deleted_at !== null) return undefined;
      doc.deleted_at = at;
      return doc;
    });
    return value;
  }

  async linkMedia(links: MediaLink[]): Promise<void> {
    await Promise.all(
      links.map((l) =>
        this.#db.mediaLinks.insert(keys.mediaLink(l.media_id, l.message_id), {
          media_id: l.media_id,
          room_id: l.room_id,
          message_id: l.message_id,
        }),
      ),
    );
  }

  mediaLinks(mediaId: string, limit: number): Promise<MediaLink[]> {
    return this.#db.q.rows<MediaLink>("mediaLinks", { media: mediaId, limit });
  }

  mediaLinksForMember(mediaId: string, userId: string, limit: number): Promise<MediaLink[]> {
    return this.#db.q.rows<MediaLink>("mediaLinksForMember", { media: mediaId, user: userId, limit });
  }
}
