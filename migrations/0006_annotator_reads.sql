-- Several annotators on one slice. A project in mode 'multi' or 'blind' keeps each annotator's label of a
-- slice as a read of its own, versioned per annotator like labels; the labels table keeps what training uses:
-- the reviewer's adjudicated or consensus label. In 'blind' mode an annotator sees the other reads of a slice
-- only once a reviewer has opened them (read_reveals).
ALTER TABLE projects ADD COLUMN reads_mode TEXT NOT NULL DEFAULT 'single'
    CHECK (reads_mode IN ('single', 'multi', 'blind'));

CREATE TABLE annotator_reads (
    id         INTEGER PRIMARY KEY,
    volume_id  INTEGER NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
    slice      INTEGER NOT NULL CHECK (slice >= 0),
    annotator  TEXT    NOT NULL,
    version    INTEGER NOT NULL CHECK (version > 0),
    mask       BLOB,
    deleted    INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    created_at INTEGER NOT NULL,
    UNIQUE (volume_id, slice, annotator, version),
    CHECK ((mask IS NULL) = (deleted = 1))
);

CREATE TABLE read_reveals (
    volume_id   INTEGER NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
    slice       INTEGER NOT NULL,
    revealed_by TEXT    NOT NULL,
    revealed_at INTEGER NOT NULL,
    PRIMARY KEY (volume_id, slice)
);
