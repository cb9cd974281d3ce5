-- Labels gain three origins: "interpolated" (filled between labelled slices, then accepted), "adjudicated" (a
-- reviewer's decision between several annotators' reads) and "consensus" (majority vote or STAPLE of those
-- reads). SQLite cannot change a CHECK constraint in place, so the table is rebuilt with its rows, ids and
-- versions unchanged; nothing references labels, and the view that reads it is recreated.
DROP VIEW current_labels;

CREATE TABLE labels_new (
    id         INTEGER PRIMARY KEY,
    volume_id  INTEGER NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
    slice      INTEGER NOT NULL CHECK (slice >= 0),
    version    INTEGER NOT NULL CHECK (version > 0),
    mask       BLOB,
    author     TEXT    NOT NULL,
    origin     TEXT    NOT NULL
        CHECK (origin IN ('manual', 'prediction', 'interpolated', 'adjudicated', 'consensus')),
    verified   INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
    deleted    INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    created_at INTEGER NOT NULL,
    UNIQUE (volume_id, slice, version),
    CHECK ((mask IS NULL) = (deleted = 1))
);
INSERT INTO labels_new (id, volume_id, slice, version, mask, author, origin, verified, deleted, created_at)
SELECT id, volume_id, slice, version, mask, author, origin, verified, deleted, created_at FROM labels;
DROP TABLE labels;
ALTER TABLE labels_new RENAME TO labels;

CREATE VIEW current_labels AS
SELECT l.*
FROM labels l
WHERE l.version = (SELECT MAX(h.version) FROM labels h WHERE h.volume_id = l.volume_id AND h.slice = l.slice);
