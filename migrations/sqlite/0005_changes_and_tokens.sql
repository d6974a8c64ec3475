-- Incremental pulls: every change to an item's exported row stamps it with the next value of
-- its project's change counter, in the transaction that makes the change. The counter row is
-- updated last and held until commit, so changes commit in counter order and any read view
-- sees a gap-free prefix: "everything after cursor C" never misses a change or repeats one.
ALTER TABLE items ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX items_changes ON items (project_id, change_seq);

CREATE TABLE project_changes (
    project_id BIGINT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL
);

-- API tokens: only a SHA-256 of the secret is stored (tokens are 256-bit random, so a fast
-- hash is enough); the prefix identifies a token in lists without revealing it.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    -- Comma-separated scopes: export, annotate.
    scopes TEXT NOT NULL,
    -- NULL: every project the user may see.
    project_id BIGINT REFERENCES projects (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
