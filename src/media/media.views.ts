import type { MediaView } from "../contract/views.ts";
import { gridExpiry, type MediaStorage } from "../media-storage/media-storage.ts";
import type { MediaRecord, MediaStore } from "../store/store.ts";

/** Media records to their wire shape, with download URLs signed for the viewer. */
export class MediaViews {
  readonly #store: Pick<MediaStore, "getMediaMany">;
  readonly #storage: MediaStorage;
  readonly #urlTtlS: number;

  constructor(store: Pick<MediaStore, "getMediaMany">, storage: MediaStorage, urlTtlS: number) {
    this.#store = store;
    this.#storage = storage;
    this.#urlTtlS = urlTtlS;
  }

  async view(m: MediaRecord): Promise<MediaView> {
    const { signedAt, expiresAt } = gridExpiry(Date.now(), this.#urlTtlS);
    const served = m.status === "processing" || m.status === "ready";
    const url =
      served && m.object_key
        ? await this.#storage.downloadUrl(m.object_key, {
            contentType: m.content_type,
            signedAt,
            expiresAt,
            attachmentName: m.kind === "file" ? m.filename : undefined,
          })
        : null;
    const thumbnailUrl =
      m.status === "ready" && m.thumb_key
        ? await this.#storage.downloadUrl(m.thumb_key, { contentType: "image/webp", signedAt, expiresAt })
        : null;
    return {
      id: m.id,
      kind: m.kind,
      status: m.status,
      content_type: m.content_type,
      size: m.size,
      filename: m.filename,
      url,
      thumbnail_url: thumbnailUrl,
      placeholder: m.status === "ready" ? m.placeholder : null,
      width: m.width,
      height: m.height,
      duration: m.duration,
      failure_reason: m.failure,
      created_at: m.created_at,
    };
  }

  /** Views of the media still there (a deleted media is absent: its messages show none). */
  async forIds(ids: string[]): Promise<Map<string, MediaView>> {
    const out = new Map<string, MediaView>();
    if (ids.length === 0) return out;
    const records = await this.#store.getMediaMany(ids);
    for (const m of records.values()) if (!m.deleted_at) out.set(m.id, await this.view(m));
    return out;
  }
}
