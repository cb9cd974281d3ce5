-- The data directory's identity, the same id as in DATA/IDENTITY: a database opened beside the files of
-- another directory (or after its own was lost) is refused instead of taking those files for nobody's. One row,
-- recorded when the store first opens a directory, or adopts one made before identities.
CREATE TABLE identity (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    id         TEXT    NOT NULL CHECK (length(id) = 32),
    created_at INTEGER NOT NULL
);
