-- The crowd model's cells of the labels export, stored by each re-fit (issue 11): an export of a
-- project that has not changed since its last fit reads them instead of fitting again.
--
-- items.model_cells is domain::crowd::project_model::ModelCells::encode of the item's
-- confidence, model_confidence and model_label; crowd_models.cells_change_seq is the project's
-- change number (project_changes.seq) the cells were computed at, NULL when they are not
-- current (the fit read other data than the write saw, or a rule change since). Every change
-- to what the fit reads (judgments, their normalised answers, adjudications) moves the change
-- number, so cells_change_seq = project_changes.seq means the stored cells are exactly what a
-- fit now would give. crowd_models.cells_summary is the JSON of FitSummary for the stats.
ALTER TABLE items ADD COLUMN model_cells TEXT;
ALTER TABLE crowd_models ADD COLUMN cells_change_seq BIGINT;
ALTER TABLE crowd_models ADD COLUMN cells_summary TEXT;
