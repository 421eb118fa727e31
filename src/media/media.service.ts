import { fileTypeFromBuffer } from "file-type";
import type { AuthUser } from "../auth/jwt.ts";
import type { MediaView } from "../contract/views.ts";
import { AppError, notFound } from "../kernel/errors.ts";
import { newId } from "../kernel/ids.ts";
import { normalizeType } from "../media-storage/content-type.ts";
import { type MediaStorage, newObjectKeys, ObjectMissingError } from "../media-storage/media-storage.ts";
import type { RateLimits } from "../rate-limits/rate-limits.ts";
import type { MediaKind, MediaRecord, MediaStore, MessageRecord } from "../store/store.ts";
import { kindOf, verifiedType } from "./media.kinds.ts";
import type { MediaJobs } from "./media.queue.ts";
import type { ConfirmInput, UploadUrlInput } from "./media.schemas.ts";
import type { MediaViews } from "./media.views.ts";

/** What a deleted media is taken off besides messages: the groups showing it as their avatar. */
/** What media asks of messages (the messages feature's reader serves it): who may see a message. */
export interface MessageVisibility {
  record(messageId: string): Promise<MessageRecord | null>;
  views(records: MessageRecord[], viewerId: string, dropHidden: boolean): Promise<{ deleted: unknown }[]>;
}

export interface DeletedMediaUsers {
  mediaDeleted(mediaId: string, actorId: string): Promise<void>;
}

export type MediaConfig = {
  maxBytes: Record<MediaKind, number>;
  uploadTtlS: number;
  /** Bytes a user may have in uploads not yet confirmed, while their URLs are valid. */
  pendingMaxBytes: number;
};

/** Enough of a file for every signature file-type knows (Office files need their zip directory). */
const SNIFF_BYTES = 64 * 1024;
/** How many rooms of a media are checked when a non-uploader asks for it. */
const VISIBILITY_LINKS = 50;

/**
 * Uploads (API.md 21–24): a presigned PUT straight to storage, a confirm that checks what
 * arrived (size, and type from its first bytes) and moves it where no upload URL reaches, then
 * the media pool's processing. Who may see a media: its uploader, and members of a room where a
 * message carries it.
 */
export class MediaService {
  readonly #store: MediaStore;
  readonly #storage: MediaStorage;
  readonly #jobs: MediaJobs;
  readonly #views: MediaViews;
  readonly #reader: MessageVisibility;
  readonly #config: MediaConfig;
  readonly #limits: Pick<RateLimits, "consume"> | undefined;
  readonly #avatars: DeletedMediaUsers | undefined;

  constructor(deps: {
    store: MediaStore;
    storage: MediaStorage;
    jobs: MediaJobs;
    views: MediaViews;
    reader: MessageVisibility;
    config: MediaConfig;
    limits?: Pick<RateLimits, "consume">;
    avatars?: DeletedMediaUsers;
  }) {
    this.#store = deps.store;
    this.#storage = deps.storage;
    this.#jobs = deps.jobs;
    this.#views = deps.views;
    this.#reader = deps.reader;
    this.#config = deps.config;
    this.#limits = deps.limits;
    this.#avatars = deps.avatars;
  }

  async createUpload(
    user: AuthUser,
    input: UploadUrlInput,
  ): Promise<{
    upload_id: string;
    url: string;
    method: "PUT";
    headers: Record<string, string>;
    expires_at: string;
  }> {
    await this.#limits?.consume("media_upload", user.id);
    const contentType = normalizeType(input.content_type);
    const kind = kindOf(contentType);
    if (!kind) {
      throw new AppError("unsupported_media_type", `${contentType} is not an accepted media type`);
    }
    const max = this.#config.maxBytes[kind];
    if (input.size > max) {
      const mib = Number.isInteger(max / 2 ** 20) ? `${max / 2 ** 20} MiB` : `${max} bytes`;
      throw new AppError(
        "payload_too_large",
        `${kind === "image" ? "an" : "a"} ${kind} may be at most ${mib}`,
        {
          max_bytes: max,
        },
      );
    }
    const now = new Date();
    const id = newId();
    const keys = newObjectKeys(id);
    const expiresAt = new Date(now.getTime() + this.#config.uploadTtlS * 1000);
    // Signed first: a storage that refuses the upload (a full local disk) leaves no record.
    const target = await this.#storage.uploadTarget(keys.upload, contentType, input.size, expiresAt);
    // The clean-up job goes with the record (a record must never exist without something that
    // removes it); if either fails the client gets an error and never sees the URL.
    // An upload URL can fill storage until it expires, whatever becomes of its media: a user
    // may start only so many bytes of uploads per URL lifetime (checked and written at once).
    const quota = {
      since: new Date(now.getTime() - this.#config.uploadTtlS * 1000).toISOString(),
      maxBytes: this.#config.pendingMaxBytes,
    };
    const [, created] = await Promise.all([
      this.#jobs.expireUpload(id, this.#config.uploadTtlS * 1000 + 60_000),
      this.#store.createMedia(
        {
          id,
          owner_id: user.id,
          kind,
          status: "pending",
          filename: input.filename,
          content_type: contentType,
          size: input.size,
          upload_key: keys.upload,
          object_key: keys.object,
          thumb_key: null,
          placeholder: null,
          width: null,
          height: null,
          duration: null,
          failure: null,
          created_at: now.toISOString(),
          updated_at: now.toISOString(),
          deleted_at: null,
        },
        quota,
      ),
    ]);
    if (!created.created) {
      throw new AppError(
        "payload_too_large",
        `uploads started in the last ${this.#config.uploadTtlS} s would exceed ${quota.maxBytes} bytes; retry later`,
        { used_bytes: created.used, max_bytes: quota.maxBytes },
      );
    }
    return {
      upload_id: id,
      url: target.url,
      method: "PUT",
      headers: target.headers,
      expires_at: expiresAt.toISOString(),
    };
  }

  /**
   * Checks the upload and hands it to the media pool. The upload is first placed at the
   * object key, which holds one object for ever (storage `placeOnce`) and no URL can write;
   * only then is it checked, so what passed is exactly what is processed and served, however
   * many PUTs and confirms race. Safe to repeat: a second confirm checks the same object, and
   * a confirm of a media past `pending` re-queues its job (idempotent) and returns it.
   */
  async confirm(user: AuthUser, input: ConfirmInput): Promise<MediaView> {
    const media = await this.#own(user, input.upload_id);
    if (media.status !== "pending") return this.#confirmed(media);
    // The clean-up job removes unconfirmed uploads a minute after the URL expires; stop short of it.
    if (Date.now() > Date.parse(media.created_at) + (this.#config.uploadTtlS + 30) * 1000) {
      throw new AppError("conflict", "the upload has expired: ask for a new upload URL");
    }
    const objectKey = media.object_key ?? "";
    await this.#storage.placeOnce(media.upload_key, objectKey);
    let head: Buffer;
    try {
      const found = await this.#storage.stat(objectKey);
      if (!found) {
        throw new AppError("conflict", "nothing was uploaded yet: PUT the file to the upload URL first");
      }
      if (found.size !== media.size) {
        return await this.#refuse(
          media,
          new AppError(
            "invalid_request",
            `the uploaded file has ${found.size} bytes, not the ${media.size} declared; start a new upload`,
            { declared: media.size, uploaded: found.size },
          ),
        );
      }
      head = await this.#storage.readHead(objectKey, SNIFF_BYTES);
    } catch (err) {
      // A concurrent confirm refused the file and removed it: answer as it did.
      if (!(err instanceof ObjectMissingError)) throw err;
      return this.#confirmed(await this.#own(user, media.id));
    }
    const detected = await fileTypeFromBuffer(head);
    const real = verifiedType(media.content_type, detected?.mime);
    if (!real) {
      return this.#refuse(
        media,
        new AppError(
          "unsupported_media_type",
          `the file's content is not ${media.content_type}${detected ? ` (it looks like ${detected.mime})` : ""}`,
        ),
      );
    }
    const updated = await this.#store.updateMedia(media.id, ["pending"], {
      status: "processing",
      content_type: real,
      updated_at: new Date().toISOString(),
    });
    return this.#confirmed(updated ?? (await this.#own(user, media.id)));
  }

  /** The answer to a confirm of a media past `pending`: its job (re)queued, or why it failed. */
  async #confirmed(media: MediaRecord): Promise<MediaView> {
    if (media.status === "processing") await this.#jobs.process(media.id);
    if (media.status === "failed") {
      throw new AppError(
        "conflict",
        `this upload failed (${media.failure ?? "unknown reason"}): start a new one`,
      );
    }
    return this.#views.view(media);
  }

  /** Fails the media and removes its file; only the confirm that wins the change removes it. */
  async #refuse(media: MediaRecord, error: AppError): Promise<never> {
    const failed = await this.#store.updateMedia(media.id, ["pending"], {
      status: "failed",
      failure: error.message,
      updated_at: new Date().toISOString(),
    });
    if (failed && media.object_key) await this.#storage.delete([media.object_key, media.upload_key]);
    throw error;
  }

  async get(user: AuthUser, mediaId: string): Promise<MediaView> {
    const media = await this.#store.getMedia(mediaId);
    if (!media || media.deleted_at || !(await this.#maySee(user, media))) throw notFound("media");
    return this.#views.view(media);
  }

  /**
   * Uploader only (others who can see it: 403). The objects go through a job; the groups
   * showing it as their avatar lose it, after it is marked deleted (see GroupsService.update).
   */
  async delete(user: AuthUser, mediaId: string): Promise<void> {
    const media = await this.#store.getMedia(mediaId);
    if (media?.deleted_at && media.owner_id === user.id) {
      // A repeat (the first may have failed before its job was queued): finish its work again.
      await this.#jobs.delete(media.id);
      await this.#avatars?.mediaDeleted(media.id, user.id);
      return;
    }
    if (!media || media.deleted_at || !(await this.#maySee(user, media))) throw notFound("media");
    if (media.owner_id !== user.id) throw new AppError("forbidden", "only the uploader may delete a media");
    await this.#store.deleteMedia(media.id, new Date().toISOString());
    await this.#jobs.delete(media.id);
    await this.#avatars?.mediaDeleted(media.id, user.id);
  }

  async isDeleted(mediaId: string): Promise<boolean> {
    const media = await this.#store.getMedia(mediaId);
    return !media || media.deleted_at !== null;
  }

  /**
   * What a message of `type` may carry: the sender's own media, confirmed, not failed, of the
   * same kind. One answer for every refusal, so nobody learns about another user's media.
   */
  async attachable(user: AuthUser, mediaId: string, type: MediaKind): Promise<MediaRecord> {
    const media = await this.#store.getMedia(mediaId);
    if (!media || media.deleted_at || media.owner_id !== user.id) {
      throw new AppError("invalid_request", "media_id does not name a media you uploaded");
    }
    if (media.status === "pending") {
      throw new AppError("invalid_request", "the media is not confirmed yet: POST /media/confirm first");
    }
    if (media.status === "failed") {
      throw new AppError("invalid_request", `the media failed: ${media.failure ?? "unknown reason"}`);
    }
    if (media.kind !== type) {
      throw new AppError("invalid_request", `the media is a ${media.kind}, not a ${type}`);
    }
    return media;
  }

  /** Records that a message carries the media, before the message is accepted (see MessagesService). */
  async link(mediaId: string, roomId: string, messageId: string): Promise<void> {
    await this.#store.linkMedia([{ media_id: mediaId, room_id: roomId, message_id: messageId }]);
  }

  async #own(user: AuthUser, mediaId: string): Promise<MediaRecord> {
    const media = await this.#store.getMedia(mediaId);
    if (!media || media.deleted_at || media.owner_id !== user.id) throw notFound("upload");
    return media;
  }

  /** The uploader, or a member of a room where a message they can see still carries it. */
  async #maySee(user: AuthUser, media: MediaRecord): Promise<boolean> {
    if (media.owner_id === user.id) return true;
    const links = await this.#store.mediaLinksForMember(media.id, user.id, VISIBILITY_LINKS);
    if (links.length === 0) return false;
    const records = (await Promise.all(links.map((l) => this.#reader.record(l.message_id)))).filter(
      (r) => r !== null && r.media_id === media.id,
    );
    const views = await this.#reader.views(records as NonNullable<(typeof records)[number]>[], user.id, true);
    return views.some((v) => !v.deleted);
  }
}
