/** Versioned schema: entry i brings the database to user_version i+1. Append only. */
export const migrations: string[] = [
  `
  CREATE TABLE rooms (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL CHECK (type IN ('direct', 'group')),
    name TEXT,
    description TEXT,
    avatar_media_id TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    direct_key TEXT UNIQUE,
    last_seq INTEGER NOT NULL DEFAULT 0,
    last_message_id TEXT,
    last_activity_at TEXT NOT NULL
  ) STRICT;

  CREATE TABLE members (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    joined_at TEXT NOT NULL,
    read_seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX members_by_user ON members (user_id, room_id);

  CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    type TEXT NOT NULL,
    text TEXT,
    media_id TEXT,
    reply_to_id TEXT,
    mentions TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    UNIQUE (room_id, seq),
    UNIQUE (sender_id, client_id)
  ) STRICT;
  `,
  // 2: a row readiness rewrites after a failed write, to see whether writes work again.
  `
  CREATE TABLE health (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at TEXT NOT NULL) STRICT;
  `,
  // 3: room revisions, and message state kept beside the immutable record (applied by rev;
  // no foreign key to messages: an op may land before its message).
  `
  ALTER TABLE messages ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
  UPDATE messages SET rev = seq;
  ALTER TABLE rooms ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
  UPDATE rooms SET rev = last_seq;
  CREATE INDEX messages_by_room_rev ON messages (room_id, rev);

  CREATE TABLE message_edits (
    message_id TEXT PRIMARY KEY, room_id TEXT NOT NULL, rev INTEGER NOT NULL,
    text TEXT NOT NULL, edited_at TEXT NOT NULL
  ) STRICT;
  CREATE TABLE message_deletes (
    message_id TEXT PRIMARY KEY, room_id TEXT NOT NULL, rev INTEGER NOT NULL, deleted_at TEXT NOT NULL
  ) STRICT;
  CREATE TABLE message_reactions (
    message_id TEXT NOT NULL, user_id TEXT NOT NULL, room_id TEXT NOT NULL, rev INTEGER NOT NULL,
    emoji TEXT, PRIMARY KEY (message_id, user_id)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE message_hides (
    message_id TEXT NOT NULL, user_id TEXT NOT NULL, room_id TEXT NOT NULL, rev INTEGER NOT NULL,
    hidden_at TEXT NOT NULL, PRIMARY KEY (message_id, user_id)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE message_stars (
    message_id TEXT NOT NULL, user_id TEXT NOT NULL, room_id TEXT NOT NULL, rev INTEGER NOT NULL,
    starred INTEGER NOT NULL, starred_at TEXT NOT NULL, PRIMARY KEY (message_id, user_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX message_edits_by_room_rev ON message_edits (room_id, rev);
  CREATE INDEX message_deletes_by_room_rev ON message_deletes (room_id, rev);
  CREATE INDEX message_reactions_by_room_rev ON message_reactions (room_id, rev);
  CREATE INDEX message_hides_by_user ON message_hides (user_id, room_id, rev);
  CREATE INDEX message_stars_by_user ON message_stars (user_id, starred, rev);
  `,
  // 4: receipts and per-member settings beside the member row (no per-message rows: a
  // 1,024-member group reads by watermark), and an index to discount system messages.
  `
  ALTER TABLE members ADD COLUMN read_at TEXT;
  ALTER TABLE members ADD COLUMN delivered_seq INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE members ADD COLUMN delivered_at TEXT;
  ALTER TABLE members ADD COLUMN receipt_rev INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE members ADD COLUMN muted_until TEXT;
  ALTER TABLE members ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE members ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE members ADD COLUMN settings_rev INTEGER NOT NULL DEFAULT 0;
  UPDATE members SET delivered_seq = read_seq;
  CREATE INDEX messages_system ON messages (room_id, seq) WHERE type = 'system';
  `,
  // 5: what a system message tells (JSON), for clients to render.
  `
  ALTER TABLE messages ADD COLUMN system TEXT;
  `,
  // 6: blocks between users.
  `
  CREATE TABLE blocks (
    blocker_id TEXT NOT NULL, blocked_id TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX blocks_by_blocked ON blocks (blocked_id, blocker_id);
  `,
  // 7: full-text search over each message's current text. Trigrams handle accents (removed)
  // and scripts without spaces between words (Chinese, Japanese); contentless, so the text is
  // not stored twice. Kept in step with edits and deletes by the store's writes.
  `
  CREATE VIRTUAL TABLE messages_fts USING fts5(
    text, tokenize = 'trigram remove_diacritics 1', content = '', contentless_delete = 1
  );
  INSERT INTO messages_fts (rowid, text)
    SELECT m.rowid, coalesce(e.text, m.text) FROM messages m
    LEFT JOIN message_edits e ON e.message_id = m.id
    WHERE m.text IS NOT NULL AND m.type <> 'system'
      AND NOT EXISTS (SELECT 1 FROM message_deletes d WHERE d.message_id = m.id);
  `,
  // 8: media records, the messages that carry each media, and a rev per message for changes
  // of its media (processed, failed, deleted), so sync sees them.
  `
  CREATE TABLE media (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('image', 'video', 'audio', 'file')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'ready', 'failed')),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    upload_key TEXT NOT NULL,
    object_key TEXT,
    thumb_key TEXT,
    placeholder TEXT,
    width INTEGER,
    height INTEGER,
    duration REAL,
    failure TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
  ) STRICT;
  CREATE TABLE media_links (
    media_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    PRIMARY KEY (media_id, message_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX media_links_by_room ON media_links (media_id, room_id);
  CREATE INDEX media_by_owner ON media (owner_id, created_at);
  CREATE TABLE message_media (
    message_id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    rev INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  `,
  // 9: the starred list, newest star first.
  `
  CREATE INDEX message_stars_by_time ON message_stars (user_id, starred_at, message_id) WHERE starred = 1;
  `,
  // 10: devices (a push token on one device at most) and the sync cursors each device holds.
  `
  CREATE TABLE devices (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    platform TEXT NOT NULL CHECK (platform IN ('ios', 'android', 'web', 'desktop')),
    push_token TEXT UNIQUE,
    app_version TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_sync_at TEXT,
    last_seen_at TEXT,
    PRIMARY KEY (user_id, device_id)
  ) STRICT;
  CREATE TABLE sync_cursors (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('rooms', 'messages')),
    state TEXT NOT NULL,
    created_at TEXT NOT NULL
  ) STRICT;
  CREATE INDEX sync_cursors_by_device ON sync_cursors (user_id, device_id, kind, id);
  `,
  // 11: what sync reads by room revision: when each member joined, and indexes for the
  // changes not indexed by (room, rev) yet.
  `
  ALTER TABLE members ADD COLUMN joined_rev INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX message_media_by_room_rev ON message_media (room_id, rev);
  CREATE INDEX message_stars_by_user_room ON message_stars (user_id, room_id, rev);
  CREATE TABLE message_rollbacks (
    message_id TEXT PRIMARY KEY, room_id TEXT NOT NULL, rev INTEGER NOT NULL, record TEXT NOT NULL,
    rolled_back_at TEXT NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX message_rollbacks_by_room_rev ON message_rollbacks (room_id, rev);
  `,
  // 12: a forwarded copy's provenance (JSON).
  `
  ALTER TABLE messages ADD COLUMN forwarded TEXT;
  `,
  // 13: a client_id is unique per (room, sender), not per sender: idempotency lives in the
  // room's Redis slot (Redis Cluster), so a client_id reused in another room is a new message.
  // SQLite cannot drop a table constraint: the table is rebuilt, rowids kept (the full-text
  // index refers to them). No table refers to messages.
  `
  CREATE TABLE messages_v13 (
    id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    type TEXT NOT NULL,
    text TEXT,
    media_id TEXT,
    reply_to_id TEXT,
    mentions TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    rev INTEGER NOT NULL DEFAULT 0,
    system TEXT,
    forwarded TEXT,
    UNIQUE (room_id, seq),
    UNIQUE (room_id, sender_id, client_id)
  ) STRICT;
  INSERT INTO messages_v13 (rowid, id, room_id, seq, sender_id, client_id, type, text, media_id,
      reply_to_id, mentions, created_at, rev, system, forwarded)
    SELECT rowid, id, room_id, seq, sender_id, client_id, type, text, media_id,
      reply_to_id, mentions, created_at, rev, system, forwarded FROM messages;
  DROP TABLE messages;
  ALTER TABLE messages_v13 RENAME TO messages;
  CREATE INDEX messages_by_room_rev ON messages (room_id, rev);
  CREATE INDEX messages_system ON messages (room_id, seq) WHERE type = 'system';
  `,
  // 14: the rooms showing a media as their avatar (a deleted media is taken off them).
  `
  CREATE INDEX rooms_by_avatar ON rooms (avatar_media_id) WHERE avatar_media_id IS NOT NULL;
  `,
];
