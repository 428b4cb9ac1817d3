-- What the Airflow DAGs record (services/orchestration, dags/): deployment checks and indicator
-- reconciliation runs with every mismatch they found. Written by the services' writer role;
-- the default privileges set in 0001 give tickflow_writer read/write and tickflow_reader read
-- access to these tables (they are created by the owner, like every migration).

-- One row per check per deployment_check run (run_id = Airflow's run id).
CREATE TABLE deployment_checks (
    run_id       text             NOT NULL,
    check_name   text             NOT NULL,
    status       text             NOT NULL CHECK (status IN ('ok', 'failed', 'skipped')),
    message      text             NOT NULL,   -- what is wrong and where (or what was verified)
    details      jsonb            NOT NULL DEFAULT '{}'::jsonb,
    duration_ms  double precision NOT NULL,
    checked_at   timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, check_name)          -- a retried check replaces its row
);
CREATE INDEX deployment_checks_name_time_idx ON deployment_checks (check_name, checked_at DESC);
COMMENT ON TABLE deployment_checks IS 'Results of the deployment_check DAG: one row per check and run.';

-- One row per indicator_reconciliation run: the window, the settings and the outcome.
CREATE TABLE reconciliation_runs (
    run_id                text             PRIMARY KEY,
    window_start          timestamptz      NOT NULL,
    window_end            timestamptz      NOT NULL,   -- exclusive
    symbols               text[]           NOT NULL,
    tolerance             double precision NOT NULL,   -- |stored - expected| <= tolerance * max(1, |expected|)
    max_mismatches        integer          NOT NULL,
    repair                boolean          NOT NULL,
    status                text             NOT NULL DEFAULT 'running'
                          CHECK (status IN ('running', 'passed', 'repaired', 'failed')),
    bars_checked          bigint,
    values_checked        bigint,
    mismatches            bigint,      -- found by the first comparison
    repaired_bars         bigint,      -- bars rewritten by the repair
    remaining_mismatches  bigint,      -- after the repair (= mismatches without repair)
    per_symbol            jsonb        NOT NULL DEFAULT '{}'::jsonb,
    message               text,
    started_at            timestamptz  NOT NULL DEFAULT now(),
    finished_at           timestamptz,
    CHECK (window_start < window_end)
);
CREATE INDEX reconciliation_runs_started_idx ON reconciliation_runs (started_at DESC);

-- Every indicator value that differs from the pandas + ta recomputation. phase 'check' is the
-- first comparison; 'recheck' the comparison after a repair (normally no rows).
CREATE TABLE reconciliation_mismatches (
    run_id          text             NOT NULL REFERENCES reconciliation_runs ON DELETE CASCADE,
    phase           text             NOT NULL CHECK (phase IN ('check', 'recheck')),
    symbol          text             NOT NULL,
    ts              timestamptz      NOT NULL,
    indicator       text             NOT NULL,
    stored_value    double precision,            -- NULL: the stream wrote no value
    expected_value  double precision,            -- NULL: pandas + ta has no value there
    abs_diff        double precision,            -- NULL when one side is NULL
    PRIMARY KEY (run_id, phase, symbol, ts, indicator)
);
CREATE INDEX reconciliation_mismatches_symbol_ts_idx ON reconciliation_mismatches (symbol, ts);
