-- Staff edits of devices: notes, a kind set by staff (wins over the kind the
-- agents learn, which stays in `kind`), parents set by staff (several for
-- redundant links; when any exist they win over the learned `parent_id`),
-- and retirement (out of the lists, the correlator and the counts; its open
-- incidents closed with the reason).
ALTER TABLE devices ADD COLUMN notes TEXT;
ALTER TABLE devices ADD COLUMN kind_set TEXT;
ALTER TABLE devices ADD COLUMN retired_ms BIGINT;
ALTER TABLE devices ADD COLUMN retired_reason TEXT;
CREATE TABLE device_parents (
    device_id BIGINT NOT NULL,
    parent_id BIGINT NOT NULL,
    PRIMARY KEY (device_id, parent_id)
);
CREATE INDEX device_parents_parent ON device_parents (parent_id);
