-- Snapshots: immutable, named copies of every export file of a project at one moment, so a
-- training set can be pinned and fetched again byte for byte. Files are stored in chunks so
-- that writing and reading them never holds a whole file in memory. A snapshot is written
-- outside one long transaction (annotators keep working) and becomes visible when `ready`.
CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    ready INTEGER NOT NULL DEFAULT 0 CHECK (ready IN (0, 1)),
    -- The manifest JSON (project, rule, statistics, cursor, files with sizes and SHA-256),
    -- written once when the snapshot is complete.
    manifest TEXT,
    UNIQUE (project_id, name)
);

CREATE TABLE snapshot_chunks (
    snapshot_id BIGINT NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    file TEXT NOT NULL,
    seq BIGINT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (snapshot_id, file, seq)
);
