-- Runs record the process that runs them and when it last showed a sign of life, so that a server and a CLI
-- sharing a data directory tell a live run of the other process from one whose process died (pid reuse is told
-- apart by the process start identity). Runs from before this migration have no owner: they count as dead.
ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
ALTER TABLE runs ADD COLUMN owner_host TEXT;
ALTER TABLE runs ADD COLUMN owner_start TEXT;
ALTER TABLE runs ADD COLUMN heartbeat_at INTEGER;

-- The training crop has one home, the project's crop_w/crop_h. Until now training ignored these columns and
-- took the crop from the settings' crop_w/crop_h, else from the preset (48x48 for "default", 160x160 for
-- "paper"); each project keeps the crop it trained with, and the settings lose their copy. A settings crop
-- that training would have refused is dropped for the preset's.
UPDATE projects SET
    crop_w = CASE
        WHEN json_type(settings, '$.crop_w') = 'integer' AND json_extract(settings, '$.crop_w') BETWEEN 8 AND 1024
            AND json_extract(settings, '$.crop_w') % 8 = 0 THEN json_extract(settings, '$.crop_w')
        WHEN json_extract(settings, '$.preset') = 'paper' THEN 160
        ELSE 48 END,
    crop_h = CASE
        WHEN json_type(settings, '$.crop_h') = 'integer' AND json_extract(settings, '$.crop_h') BETWEEN 8 AND 1024
            AND json_extract(settings, '$.crop_h') % 8 = 0 THEN json_extract(settings, '$.crop_h')
        WHEN json_extract(settings, '$.preset') = 'paper' THEN 160
        ELSE 48 END,
    settings = json_remove(settings, '$.crop_w', '$.crop_h');
