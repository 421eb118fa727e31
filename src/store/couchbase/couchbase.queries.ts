/**
 * Every SQL++ statement the adapter runs, by name (the name travels as the query's
 * clientContextId, so a slow query in Couchbase's logs says which one it is). Values only
 * ever arrive as named parameters. Each lists the index (couchbase.layout.ts) it relies on.
 */
export const QUERIES = {
  /** rooms_by_member. Keyset after (last_activity_at, id); "~" sorts after any ISO time. */
  roomsForUser: `SELECT RAW r FROM rooms AS r
    WHERE ANY u IN r.member_ids SATISFIES u = $user END
      AND (r.last_activity_at < $after_at OR (r.last_activity_at = $after_at AND r.id < $after_id))
    ORDER BY r.last_activity_at DESC, r.id DESC
    LIMIT $limit`,
  /** rooms_by_member: the user's roster entry in each of their rooms. */
  membershipsOf: `SELECT r.id, r.type, r.last_seq, r.member_ids,
      FIRST m FOR m IN r.members WHEN m.user_id = $user END AS me
    FROM rooms AS r
    WHERE ANY u IN r.member_ids SATISFIES u = $user END`,
  /** rooms_by_member. */
  shareRoom: `SELECT RAW r.id FROM rooms AS r
    WHERE ANY u IN r.member_ids SATISFIES u = $a END AND ANY u IN r.member_ids SATISFIES u = $b END
    LIMIT 1`,
  /** rooms_by_avatar. */
  roomsWithAvatar: `SELECT RAW r.id FROM rooms AS r WHERE r.avatar_media_id = $media ORDER BY r.id LIMIT $limit`,
  /** messages_by_seq_desc (named: the planner would pick the ascending one and sort). */
  messagesBefore: `SELECT RAW m FROM messages AS m USE INDEX (messages_by_seq_desc)
    WHERE m.room_id = $room AND m.seq < $before
    ORDER BY m.seq DESC LIMIT $limit`,
  /** messages_by_seq. */
  messagesAfter: `SELECT RAW m FROM messages AS m
    WHERE m.room_id = $room AND m.seq > $after AND m.seq < $before
    ORDER BY m.seq ASC LIMIT $limit`,
  /** messages_by_seq, messages_by_rev, message_state_by_rev. */
  roomMaxima: `SELECT
      (SELECT RAW MAX(m.seq) FROM messages AS m WHERE m.room_id = $room)[0] AS seq,
      (SELECT RAW MAX(m.rev) FROM messages AS m WHERE m.room_id = $room)[0] AS message_rev,
      (SELECT RAW MAX(s.rev) FROM message_state AS s WHERE s.room_id = $room)[0] AS state_rev`,
  /** messages_system. */
  systemSeqs: `SELECT m.room_id, m.seq FROM messages AS m
    WHERE m.type = "system" AND m.room_id IN $rooms`,
  /** rollbacks_by_rev (its leading key is room_id). */
  rolledBackSeqs: `SELECT b.room_id, b.record.seq AS seq FROM rollbacks AS b WHERE b.room_id IN $rooms`,
  /**
   * messages_by_rev, and the three below on theirs: the next changes of a sync window, oldest
   * first, at most $limit (a page reads on until it has enough; ORDER BY and LIMIT go to the index).
   */
  messageRevs: `SELECT RAW [m.id, m.rev] FROM messages AS m WHERE m.room_id = $room AND m.rev > $after
    AND m.rev <= $upto ORDER BY m.rev LIMIT $limit`,
  /** message_state_by_rev. */
  stateRevs: `SELECT RAW [s.message_id, s.rev] FROM message_state AS s
    WHERE s.room_id = $room AND s.rev > $after AND s.rev <= $upto ORDER BY s.rev LIMIT $limit`,
  /** rollbacks_by_rev. */
  rollbackRevs: `SELECT RAW [b.message_id, b.rev] FROM rollbacks AS b
    WHERE b.room_id = $room AND b.rev > $after AND b.rev <= $upto ORDER BY b.rev LIMIT $limit`,
  /** user_messages_by_rev. */
  userRevs: `SELECT RAW [u.message_id, u.rev] FROM user_messages AS u
    WHERE u.user_id = $user AND u.room_id = $room AND u.rev > $after AND u.rev <= $upto
    ORDER BY u.rev LIMIT $limit`,
  /** user_messages_starred. Keyset after (star.at, message_id). */
  starred: `SELECT u.message_id, u.room_id, u.star.\`at\` AS starred_at FROM user_messages AS u
    WHERE u.user_id = $user AND u.star.starred = TRUE
      AND (u.star.\`at\` < $after_at OR (u.star.\`at\` = $after_at AND u.message_id < $after_id))
    ORDER BY u.star.\`at\` DESC, u.message_id DESC
    LIMIT $limit`,
  /**
   * messages_by_time. Every term (already folded) must be in the current text; tombstones and
   * what the user hid are left out. Keyset after (created_at, id). A substring scan over the
   * user's rooms: Couchbase's Search service would index it (see docs/architecture.md).
   */
  search: `SELECT RAW m FROM messages AS m
    LEFT JOIN message_state AS s ON KEYS m.id
    WHERE m.room_id IN $rooms AND m.search_text IS VALUED
      AND s.deleted IS NOT VALUED
      AND NOT ARRAY_CONTAINS(IFMISSINGORNULL(s.hidden_by, []), $user)
      AND EVERY t IN $terms SATISFIES CONTAINS(IFMISSINGORNULL(s.search_text, m.search_text), t) END
      AND (m.created_at < $after_at OR (m.created_at = $after_at AND m.id < $after_id))
    ORDER BY m.created_at DESC, m.id DESC
    LIMIT $limit`,
  /** media_links_by_media. */
  mediaLinks: `SELECT RAW l FROM media_links AS l WHERE l.media_id = $media
    ORDER BY l.message_id LIMIT $limit`,
  /** media_links_by_media, then each link's room by key. */
  mediaLinksForMember: `SELECT RAW l FROM media_links AS l JOIN rooms AS r ON KEYS l.room_id
    WHERE l.media_id = $media AND ANY u IN r.member_ids SATISFIES u = $user END
    ORDER BY l.message_id LIMIT $limit`,
} as const;

export type QueryName = keyof typeof QUERIES;

/** Sorts after every ISO time and every id: the keyset bound of a first page. */
export const KEYSET_TOP = "~";
