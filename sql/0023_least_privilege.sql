-- Least privilege for the services' group role: each table gets exactly what some service does to it
-- (README "Who may write"). Until now tickflow_writer could also DELETE from every table, including
-- schema_migrations. Tables added later get SELECT only by default; their migration grants the rest.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM tickflow_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE INSERT, UPDATE, DELETE ON TABLES FROM tickflow_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO tickflow_writer;

-- processor
GRANT INSERT ON bars, signals, late_bars, dead_letters, order_book, news_sentiment, market_data,
    economic_indicators TO tickflow_writer;
GRANT INSERT, UPDATE ON processor_offsets, symbol_state TO tickflow_writer;
-- Airflow: indicator_backfill rewrites indicators and signals; checks and reconciliation keep runs
GRANT UPDATE ON bars TO tickflow_writer;
GRANT UPDATE, DELETE ON signals TO tickflow_writer;
GRANT INSERT, UPDATE ON deployment_checks, reconciliation_runs TO tickflow_writer;
GRANT INSERT, DELETE ON reconciliation_mismatches TO tickflow_writer;
GRANT INSERT, DELETE ON market_summaries TO tickflow_writer;
GRANT INSERT ON market_summary_rules TO tickflow_writer;
-- dashboard: webhook deliveries, and pruning of the feed (which only its triggers write)
GRANT INSERT, UPDATE ON webhook_cursors, webhook_deliveries, webhook_attempts TO tickflow_writer;
GRANT DELETE ON dashboard_feed TO tickflow_writer;
