-- The SLA configuration (its digest) the ticket view's stored due times and business figures
-- were last brought to, and the checkpoint generation right after: while both still hold, an
-- engine start need not walk every ticket again. A rebuild's swap, an edit's step or a
-- truncating migration (which deletes the checkpoint row) moves or clears them.
ALTER TABLE projection_checkpoints
    ADD COLUMN sla_configuration text,
    ADD COLUMN sla_configuration_generation bigint;
