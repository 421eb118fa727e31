import type { AuthUser } from "../auth/jwt.ts";
import type { RoomView } from "../contract/views.ts";
import { AppError, notFound } from "../kernel/errors.ts";
import type { MembershipCache } from "../membership/membership.cache.ts";
import type { MembershipChange } from "../membership/membership-change.ts";
import type { RoomLocks } from "../membership/room-lock.ts";
import type { MessagesService } from "../messages/messages.service.ts";
import type { RoomCounters } from "../messages/room-counters.repository.ts";
import type { RateLimits } from "../rate-limits/rate-limits.ts";
import type { MemberRole, MembersStore, RoomRecord, RoomsStore } from "../store/store.ts";
import type { BlocksService } from "./blocks.service.ts";
import type { GroupUpdateInput } from "./rooms.schemas.ts";
import { toRoomView } from "./rooms.views.ts";

/** Realtime side of group changes: socket moves on every node, and the room events. */
export interface GroupEvents {
  /** Puts the users' sockets, on every node, into the room; resolves once that is ordered before anything sent after. */
  joinRoom(userIds: string[], roomId: string): Promise<void>;
  /** Takes the users' sockets, on every node, out of the room, ordered the same way. */
  leaveRoom(userIds: string[], roomId: string): Promise<void>;
  roomUpdated(room: RoomRecord): void;
  membersAdded(roomId: string, userIds: string[]): void;
  /** To the room and to the removed users (no longer in it). */
  membersRemoved(roomId: string, userIds: string[]): void;
}

export type GroupsConfig = { maxGroupMembers: number };

/** What groups ask of media: whether an admin may show one as the avatar, and whether it is gone. */
export interface AvatarMedia {
  /** Refuses (400) anything but the user's own confirmed image. */
  attachable(user: AuthUser, mediaId: string, kind: "image"): Promise<unknown>;
  /** True once the media is deleted (or never existed). */
  isDeleted(mediaId: string): Promise<boolean>;
}

/** Rooms read per page when a deleted media is taken off the rooms showing it. */
const AVATAR_PAGE = 100;

/**
 * Group administration (API 4–7). Only admins rename, describe, set the avatar, add, remove,
 * promote and demote; any member may leave; when the last admin leaves, the longest-standing
 * member becomes admin (in the same store write). Changes of one room run one at a time on
 * every node (RoomLocks), each from its check to its system message. Every change gets a room revision and a
 * `system` message, so history tells the story. Sockets move before that message is taken,
 * so a removed member receives nothing sent after the removal, and an added member receives
 * everything from the message that announces them. An added member reads the whole history;
 * a member who left or was removed reads nothing (the room answers 404).
 */
export class GroupsService {
  readonly #store: RoomsStore & MembersStore;
  readonly #members: MembershipCache;
  readonly #change: MembershipChange;
  readonly #counters: RoomCounters;
  readonly #messages: Pick<MessagesService, "postSystem">;
  readonly #events: GroupEvents;
  readonly #view: (user: AuthUser, roomId: string) => Promise<RoomView>;
  readonly #config: GroupsConfig;
  readonly #limits: Pick<RateLimits, "consume"> | undefined;
  readonly #blocks: BlocksService;
  readonly #locks: RoomLocks;
  readonly #media: AvatarMedia;

  constructor(deps: {
    store: RoomsStore & MembersStore;
    members: MembershipCache;
    change: MembershipChange;
    counters: RoomCounters;
    messages: Pick<MessagesService, "postSystem">;
    events: GroupEvents;
    /** The caller's view of the room (RoomsService.get). */
    view: (user: AuthUser, roomId: string) => Promise<RoomView>;
    config: GroupsConfig;
    blocks: BlocksService;
    locks: RoomLocks;
    limits?: Pick<RateLimits, "consume">;
    /** Checks a new avatar: the admin's own confirmed image. */
    media: AvatarMedia;
  }) {
    this.#store = deps.store;
    this.#members = deps.members;
    this.#change = deps.change;
    this.#counters = deps.counters;
    this.#messages = deps.messages;
    this.#events = deps.events;
    this.#view = deps.view;
    this.#config = deps.config;
    this.#limits = deps.limits;
    this.#blocks = deps.blocks;
    this.#locks = deps.locks;
    this.#media = deps.media;
  }

  update(user: AuthUser, roomId: string, input: GroupUpdateInput): Promise<RoomView> {
    return this.#locks.with(roomId, () => this.#update(user, roomId, input));
  }

  addMembers(user: AuthUser, roomId: string, userIds: string[]): Promise<RoomView> {
    return this.#locks.with(roomId, () => this.#addMembers(user, roomId, userIds));
  }

  /** Removes a member (admins), or leaves (any member, their own id). 200 with the room as the caller now sees it. */
  removeMember(user: AuthUser, roomId: string, targetId: string): Promise<RoomView> {
    return this.#locks.with(roomId, () => this.#removeMember(user, roomId, targetId));
  }

  setRole(user: AuthUser, roomId: string, targetId: string, role: MemberRole): Promise<RoomView> {
    return this.#locks.with(roomId, () => this.#setRole(user, roomId, targetId, role));
  }

  async #update(user: AuthUser, roomId: string, input: GroupUpdateInput): Promise<RoomView> {
    await this.#assertAdmin(user, roomId);
    const avatar = input.avatar_media_id ?? undefined;
    if (avatar) await this.#media.attachable(user, avatar, "image");
    const rev = await this.#rev(roomId);
    const updatedAt = new Date().toISOString();
    let room = await this.#store.updateRoom(roomId, { ...input, updated_at: updatedAt, rev });
    if (!room) throw notFound("room");
    // The media may have been deleted since it was checked, and its deletion may have looked
    // for the rooms showing it before this write: then this change takes it off again itself
    // (the deletion clears the rooms it finds; each side writes before it looks at the other).
    const gone = avatar !== undefined && (await this.#media.isDeleted(avatar));
    if (gone) room = (await this.#store.clearAvatar(roomId, avatar, { updated_at: updatedAt, rev })) ?? room;
    const fields = (["name", "description", "avatar_media_id"] as const).filter(
      (f) => input[f] !== undefined,
    );
    await this.#messages.postSystem(
      roomId,
      { event: "room_updated", actor_id: user.id, fields },
      gone ? undefined : avatar,
    );
    this.#events.roomUpdated(room);
    return this.#view(user, roomId);
  }

  /**
   * Takes a media its uploader (`actorId`) deleted off every group showing it as the avatar,
   * each as a change of that room (a revision, a `system` message, `room:updated`). Called
   * after the media is marked deleted; safe to repeat.
   */
  async mediaDeleted(mediaId: string, actorId: string): Promise<void> {
    for (;;) {
      const roomIds = await this.#store.roomsWithAvatar(mediaId, AVATAR_PAGE);
      for (const roomId of roomIds) {
        await this.#locks.with(roomId, () => this.#clearAvatar(roomId, mediaId, actorId));
      }
      // A cleared room leaves the list; one changed meanwhile left it already.
      if (roomIds.length < AVATAR_PAGE) return;
    }
  }

  async #clearAvatar(roomId: string, mediaId: string, actorId: string): Promise<void> {
    const current = await this.#store.getRoom(roomId);
    if (current?.avatar_media_id !== mediaId) return;
    const rev = await this.#rev(roomId);
    const room = await this.#store.clearAvatar(roomId, mediaId, {
      updated_at: new Date().toISOString(),
      rev,
    });
    if (!room) return;
    await this.#messages.postSystem(roomId, {
      event: "room_updated",
      actor_id: actorId,
      fields: ["avatar_media_id"],
    });
    this.#events.roomUpdated(room);
  }

  async #addMembers(user: AuthUser, roomId: string, userIds: string[]): Promise<RoomView> {
    await this.#limits?.consume("member_add", user.id);
    await this.#assertAdmin(user, roomId);
    await this.#blocks.assertCanAdd(user, userIds);
    const now = new Date().toISOString();
    const rev = await this.#rev(roomId);
    // The history before joining is readable, but not unread.
    const readSeq = await this.#counters.currentSeq(roomId);
    const wanted = [...new Set(userIds)].map((id) => ({
      user_id: id,
      role: "member" as const,
      joined_at: now,
    }));
    const added = await this.#change.run(roomId, () =>
      this.#store.addMembers(roomId, wanted, this.#config.maxGroupMembers, rev, readSeq),
    );
    if (added === "full") {
      throw new AppError("invalid_request", `a group holds at most ${this.#config.maxGroupMembers} members`, {
        max_members: this.#config.maxGroupMembers,
      });
    }
    if (added.length > 0) {
      await this.#events.joinRoom(added, roomId);
      await this.#messages.postSystem(roomId, { event: "members_added", actor_id: user.id, user_ids: added });
      this.#events.membersAdded(roomId, added);
    }
    return this.#view(user, roomId);
  }

  async #removeMember(user: AuthUser, roomId: string, targetId: string): Promise<RoomView> {
    const room =
      targetId === user.id ? await this.#group(user, roomId) : await this.#assertAdmin(user, roomId);
    const rev = await this.#rev(roomId);
    const { removed, promoted } = await this.#change.run(roomId, () =>
      this.#store.removeMember(roomId, targetId, rev),
    );
    if (!removed) throw notFound("member");
    await this.#events.leaveRoom([targetId], roomId);
    await this.#messages.postSystem(roomId, {
      event: "members_removed",
      actor_id: user.id,
      user_ids: [targetId],
    });
    if (promoted) {
      await this.#messages.postSystem(roomId, {
        event: "role_changed",
        actor_id: user.id,
        user_ids: [promoted],
        role: "admin",
      });
    }
    this.#events.membersRemoved(roomId, [targetId]);
    if (targetId === user.id) {
      // The caller left: they get the room as a non-member would have it described to them.
      return toRoomView({ ...room, members_count: Math.max(0, room.members_count - 1) }, null);
    }
    return this.#view(user, roomId);
  }

  async #setRole(user: AuthUser, roomId: string, targetId: string, role: MemberRole): Promise<RoomView> {
    await this.#assertAdmin(user, roomId);
    const rev = await this.#rev(roomId);
    const result = await this.#change.run(roomId, () => this.#store.setRole(roomId, targetId, role, rev));
    if (result === null) throw notFound("member");
    if (result === "last_admin") throw new AppError("invalid_request", "a group needs at least one admin");
    await this.#messages.postSystem(roomId, {
      event: "role_changed",
      actor_id: user.id,
      user_ids: [targetId],
      role,
    });
    const room = await this.#store.getRoom(roomId);
    if (room) this.#events.roomUpdated(room);
    return this.#view(user, roomId);
  }

  /** The caller is a member of this group (404 otherwise; 403 for a direct room, which has no administration). */
  async #group(user: AuthUser, roomId: string): Promise<RoomRecord> {
    await this.#members.assertMember(roomId, user.id);
    const room = await this.#store.getRoom(roomId);
    if (!room) throw notFound("room");
    if (room.type !== "group") throw new AppError("forbidden", "a direct room has no members to manage");
    return room;
  }

  /** The caller is an admin of this group; returns the group. */
  async #assertAdmin(user: AuthUser, roomId: string): Promise<RoomRecord> {
    const room = await this.#group(user, roomId);
    const me = await this.#store.getMember(roomId, user.id);
    if (me?.role !== "admin") throw new AppError("forbidden", "admins only");
    return room;
  }

  async #rev(roomId: string): Promise<number> {
    const [rev] = await this.#counters.takeRevs(roomId, 1);
    return rev ?? 0;
  }
}
