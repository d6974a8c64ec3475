-- Exports read a project's items in import order and each item's judgments in submission
-- order. Without these indexes both needed a sort of the whole project before the first byte
-- (seconds at a million items); with them the rows come straight off an index walk.
CREATE INDEX items_export_order ON items (project_id, id);
CREATE INDEX judgments_export_order ON judgments (item_id, id);
