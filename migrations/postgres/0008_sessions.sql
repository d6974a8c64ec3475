-- Browser sessions, on the server. The session cookie carries a random session id; only its
-- SHA-256 is kept here, so a copy of the database logs no one in. A session is alive while its
-- row is: logging out deletes it (a replayed cookie is then worth nothing), and a password
-- reset, a disabled account or a role change deletes the user's rows, which every instance
-- sees at that user's next request. Idle and absolute expiry are judged from the two times.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_at);
CREATE INDEX sessions_by_created ON sessions (created_at);
