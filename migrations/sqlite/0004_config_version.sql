-- Bumped by every change of a project's answer schema or quorum rule. Writers that decide
-- outcomes (submits, imports) check it inside their transaction, so no judgment is ever
-- decided by a rule that was replaced while the request was in flight.
ALTER TABLE projects ADD COLUMN config_version BIGINT NOT NULL DEFAULT 1;
