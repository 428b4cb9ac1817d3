-- The database's size over time, for the storage figures (growth per day, days until the volume is
-- full: services/core/storage.py). Written by whoever measures (the deployment_check DAG's storage
-- check, the dashboard's metrics), at most one row per 15 minutes, and kept 8 days: the writer
-- deletes older rows as it adds one, so the table stays at about 770 rows.
CREATE TABLE storage_samples (
    sampled_at      timestamptz NOT NULL PRIMARY KEY,  -- the database's clock
    database_bytes  bigint      NOT NULL               -- pg_database_size(current_database())
);
COMMENT ON TABLE storage_samples IS
    'The database size over time (storage check, dashboard metrics); one row per 15 minutes, kept 8 days.';
GRANT INSERT, DELETE ON storage_samples TO tickflow_writer;
