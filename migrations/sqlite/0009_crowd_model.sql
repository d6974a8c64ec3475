-- Confidence stopping and the stored crowd model (issue 11).
--
-- A rule with confidence_target set is `stop = "confidence"`: an item resolves once it has at
-- least confidence_min judgments and the crowd model's most probable answer reaches the target
-- posterior, unresolved at max_judgments. Such a project keeps stop_mode = 'early' and
-- agree = max_judgments / 2 + 1 only to satisfy the CHECKs of 0001, which SQLite cannot change
-- without rebuilding every table that references projects; the code never reads them then.
ALTER TABLE projects ADD COLUMN confidence_target DOUBLE PRECISION
    CHECK (confidence_target IS NULL OR (confidence_target > 0.5 AND confidence_target < 1));
ALTER TABLE projects ADD COLUMN confidence_min BIGINT
    CHECK (confidence_min IS NULL OR confidence_min >= 1);
-- Bumped by every re-fit of the project's crowd model; writers read it with config_version,
-- so each process reloads a model it caches only when it changed.
ALTER TABLE projects ADD COLUMN model_version BIGINT NOT NULL DEFAULT 0;

-- The annotator estimates the submit path decides with under confidence stopping: one row per
-- project, replaced by each re-fit. body is the JSON of domain::crowd::annotator_model.
CREATE TABLE crowd_models (
    project_id BIGINT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    fitted_at BIGINT NOT NULL,
    judgments BIGINT NOT NULL,
    iterations BIGINT NOT NULL,
    converged BIGINT NOT NULL CHECK (converged IN (0, 1)),
    body TEXT NOT NULL
);

-- The posterior of an item's label when confidence stopping resolved it, under the model
-- version that decided it: the evidence for the decision, kept with it.
ALTER TABLE items ADD COLUMN decided_confidence DOUBLE PRECISION;
ALTER TABLE items ADD COLUMN decided_model_version BIGINT;

-- Resolved items a later re-fit no longer supports (their label's posterior fell below the
-- target, or another answer became the most probable). They are never flipped silently: the
-- item keeps its status and label, and the row says what the new model thinks, for the owner
-- to adjudicate. A later re-fit that supports the label again removes the row.
CREATE TABLE model_reviews (
    item_id BIGINT PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    model_version BIGINT NOT NULL,
    label TEXT NOT NULL,
    label_posterior DOUBLE PRECISION NOT NULL,
    model_label TEXT NOT NULL,
    model_posterior DOUBLE PRECISION NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX model_reviews_by_project ON model_reviews (project_id, item_id);
