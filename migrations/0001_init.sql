-- The workbench schema. Times are Unix milliseconds (UTC); JSON columns hold small documents the Go code owns.

-- A project: a set of volumes segmented into the same classes. classes is a JSON array of {"name","color"};
-- class i of the array is mask value i+1 (0 is the implicit background).
CREATE TABLE projects (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    classes    TEXT    NOT NULL CHECK (json_valid(classes)),
    crop_w     INTEGER NOT NULL DEFAULT 160 CHECK (crop_w > 0),
    crop_h     INTEGER NOT NULL DEFAULT 160 CHECK (crop_h > 0),
    settings   TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(settings)),
    created_at INTEGER NOT NULL
);

-- A volume on the canonical RAS+ grid (nx, ny, nz; axial slices are planes of constant z). The uploaded file is
-- kept verbatim at original_file (relative to the data directory) so exports can use the source's exact grid;
-- orientation maps the source array onto the canonical one.
CREATE TABLE volumes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    original_file TEXT    NOT NULL UNIQUE,
    original_name TEXT    NOT NULL,
    sha256        TEXT    NOT NULL,
    nx            INTEGER NOT NULL CHECK (nx > 0),
    ny            INTEGER NOT NULL CHECK (ny > 0),
    nz            INTEGER NOT NULL CHECK (nz > 0),
    spacing       TEXT    NOT NULL CHECK (json_valid(spacing)),
    affine        TEXT    NOT NULL CHECK (json_valid(affine)),
    orientation   TEXT    NOT NULL CHECK (json_valid(orientation)),
    stats         TEXT    NOT NULL CHECK (json_valid(stats)),
    created_at    INTEGER NOT NULL,
    UNIQUE (project_id, name)
);

-- Every version of every slice's label. The highest version of a (volume, slice) is its current label; a
-- deleted row is a tombstone (the slice is unlabelled again). mask is the zlib-compressed class-index mask,
-- nx*ny bytes, x fastest; NULL for tombstones.
CREATE TABLE labels (
    id         INTEGER PRIMARY KEY,
    volume_id  INTEGER NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
    slice      INTEGER NOT NULL CHECK (slice >= 0),
    version    INTEGER NOT NULL CHECK (version > 0),
    mask       BLOB,
    author     TEXT    NOT NULL,
    origin     TEXT    NOT NULL CHECK (origin IN ('manual', 'prediction')),
    verified   INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
    deleted    INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    created_at INTEGER NOT NULL,
    UNIQUE (volume_id, slice, version),
    CHECK ((mask IS NULL) = (deleted = 1))
);

CREATE VIEW current_labels AS
SELECT l.*
FROM labels l
WHERE l.version = (SELECT MAX(h.version) FROM labels h WHERE h.volume_id = l.volume_id AND h.slice = l.slice);

-- Training runs. At most one queued or running run per project.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    status      TEXT    NOT NULL
        CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
    settings    TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(settings)),
    error       TEXT    NOT NULL DEFAULT '',
    model_id    INTEGER REFERENCES models(id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER
);
CREATE INDEX runs_project ON runs(project_id, id);
CREATE UNIQUE INDEX runs_one_active ON runs(project_id) WHERE status IN ('queued', 'running');

-- A run's progress events (iteration, epoch, ...), kept so the loss curves can be redrawn after a reload.
CREATE TABLE run_events (
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL CHECK (seq > 0),
    kind       TEXT    NOT NULL,
    data       TEXT    NOT NULL CHECK (json_valid(data)),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

-- Trained models; the weights live in file (relative to the data directory, under models/).
-- At most one active model per project.
CREATE TABLE models (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    run_id     INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    parent_id  INTEGER REFERENCES models(id) ON DELETE SET NULL,
    file       TEXT    NOT NULL UNIQUE,
    arch       TEXT    NOT NULL,
    settings   TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(settings)),
    metrics    TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metrics)),
    active     INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
    created_at INTEGER NOT NULL
);
CREATE INDEX models_project ON models(project_id, id);
CREATE UNIQUE INDEX models_one_active ON models(project_id) WHERE active = 1;

-- A model's prediction for one slice: the zlib-compressed class-index mask and an uncertainty score
-- (higher = less sure), which orders the review queue.
CREATE TABLE predictions (
    model_id    INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    volume_id   INTEGER NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
    slice       INTEGER NOT NULL CHECK (slice >= 0),
    mask        BLOB    NOT NULL,
    uncertainty REAL    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (model_id, volume_id, slice)
);
CREATE INDEX predictions_volume ON predictions(volume_id, slice);
