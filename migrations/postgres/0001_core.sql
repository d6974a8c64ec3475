-- Core schema: users, projects, items, judgments and the assignment tables.
-- Times are unix milliseconds (BIGINT) and flags 0/1 integers, so one set of queries runs on
-- SQLite and PostgreSQL alike. Invariants are enforced here too, not only in code.

CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- How the annotator appears in imports and exports: the email for login users, the
    -- worker id for external (e.g. Mechanical Turk) annotators.
    name TEXT NOT NULL UNIQUE,
    email TEXT UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'owner', 'annotator')),
    password_hash TEXT,
    external BIGINT NOT NULL DEFAULT 0 CHECK (external IN (0, 1)),
    disabled BIGINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at BIGINT NOT NULL
);

CREATE TABLE projects (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    instructions TEXT NOT NULL,
    -- The answer schema as JSON ({"kind":"text","normalize":[...]} or {"kind":"choice","options":[...]}).
    answer_spec TEXT NOT NULL,
    agree BIGINT NOT NULL,
    max_judgments BIGINT NOT NULL,
    stop_mode TEXT NOT NULL CHECK (stop_mode IN ('early', 'fixed')),
    lease_seconds BIGINT NOT NULL CHECK (lease_seconds > 0),
    owner_id BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (agree * 2 > max_judgments AND agree <= max_judgments)
);

-- Input field names in order of first appearance: the `input.<field>` export columns.
CREATE TABLE project_fields (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (project_id, position),
    UNIQUE (project_id, name)
);

CREATE TABLE items (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    -- Input fields as a JSON object.
    fields TEXT NOT NULL,
    -- The outcome, recomputed in the same transaction as every judgment that changes it.
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'resolved', 'unresolved', 'adjudicated')),
    label TEXT,
    -- An owner's final label for an item the crowd could not settle: who and when.
    adjudicated_by BIGINT REFERENCES users (id),
    adjudicated_at BIGINT,
    votes BIGINT NOT NULL DEFAULT 0,
    answers TEXT NOT NULL DEFAULT '{}',
    judgment_count BIGINT NOT NULL DEFAULT 0,
    lease_count BIGINT NOT NULL DEFAULT 0,
    -- Copy of the rule's max: lets the schema refuse an item more judgments plus open leases.
    capacity BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, external_id),
    CHECK (judgment_count >= 0 AND lease_count >= 0),
    CHECK (judgment_count + lease_count <= capacity),
    CHECK ((status IN ('resolved', 'adjudicated')) = (label IS NOT NULL)),
    CHECK ((status = 'adjudicated') = (adjudicated_by IS NOT NULL AND adjudicated_at IS NOT NULL))
);
-- The assignment queue: pending items of a project, closest to a decision first.
CREATE INDEX items_queue ON items (project_id, status, votes DESC, judgment_count DESC, id);

CREATE TABLE judgments (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    item_id BIGINT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    annotator_id BIGINT NOT NULL REFERENCES users (id),
    answer TEXT NOT NULL,
    normalized TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('import', 'web', 'api')),
    created_at BIGINT NOT NULL,
    -- No annotator judges an item twice.
    UNIQUE (item_id, annotator_id)
);

-- An annotator's hold on an item: while it is open, the item's slot is reserved for them.
CREATE TABLE leases (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    item_id BIGINT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    annotator_id BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    UNIQUE (item_id, annotator_id)
);
CREATE INDEX leases_expiry ON leases (project_id, expires_at);
CREATE INDEX leases_annotator ON leases (annotator_id, project_id);

-- Items an annotator passed on: never offered to them again.
CREATE TABLE skips (
    item_id BIGINT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    annotator_id BIGINT NOT NULL REFERENCES users (id),
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (item_id, annotator_id)
);
