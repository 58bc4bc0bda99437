-- Versioned config pushes (issue 16): what each agent reports it runs. A
-- pushed config is confirmed once the agent's link stayed up after it was
-- applied; a config that cut the agent off is reverted and rejected.
-- `config_checksum_ok` compares the agent's checksum with the controller's
-- for the same revision (NULL when the revisions differ).
ALTER TABLE agents ADD COLUMN config_revision BIGINT;
ALTER TABLE agents ADD COLUMN config_checksum TEXT;
ALTER TABLE agents ADD COLUMN config_confirmed BIGINT;
ALTER TABLE agents ADD COLUMN config_rejected BIGINT;
ALTER TABLE agents ADD COLUMN config_checksum_ok BIGINT;
-- The hardware model the agent reports (rollouts: canaries per model).
ALTER TABLE agents ADD COLUMN model TEXT;
