-- Model promotion. A finished run's model becomes active only when it compares at least as well as the active
-- one (internal/job decides and stores the comparison in the model's metrics, key "promotion"), or when a
-- reviewer promotes it; otherwise it is kept as a candidate, with its own predictions, beside the active model.
ALTER TABLE models ADD COLUMN candidate INTEGER NOT NULL DEFAULT 0 CHECK (candidate IN (0, 1));

-- The labelled slices a model was trained on (every slice its run sent to training, whatever the split), with
-- the label version it saw: a later comparison uses only slices that a model has not seen.
CREATE TABLE model_training_slices (
    model_id      INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    volume_id     INTEGER NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
    slice         INTEGER NOT NULL CHECK (slice >= 0),
    label_version INTEGER NOT NULL CHECK (label_version > 0),
    PRIMARY KEY (model_id, volume_id, slice)
) WITHOUT ROWID;
CREATE INDEX model_training_slices_volume ON model_training_slices(volume_id);
