-- Recommendations (README, "Recommendations"): per symbol and timeframe, a short text in plain words
-- and the facts it was written from (JSON: every value rounded as the text shows it, each part naming
-- its source table and key). Written by the market_recommendations DAG
-- (services/orchestration/recommendations.py); a run replaces the rows of its (symbol, timeframe, as_of).
CREATE TABLE recommendations (
    symbol           text        NOT NULL,
    timeframe        text        NOT NULL,
    as_of            timestamptz NOT NULL,   -- the run's end: every fact is from a row before it
    weight           text        NOT NULL CHECK (weight IN ('little', 'some', 'fair')),
    text             text        NOT NULL,   -- what a person reads: the LLM's phrasing or the template's
    template_text    text        NOT NULL,   -- the deterministic text from the facts
    phrasing         text        NOT NULL CHECK (phrasing IN ('template', 'llm')),
    fallback_reason  text,                   -- why an LLM's answer was not used (NULL: used, or no LLM set)
    llm_model        text,                   -- the model asked, if any
    facts            jsonb       NOT NULL,
    run_id           text,
    computed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, timeframe, as_of),
    CHECK (phrasing = 'template' OR fallback_reason IS NULL)
);
CREATE INDEX recommendations_as_of_idx ON recommendations (as_of DESC);
GRANT INSERT, UPDATE ON recommendations TO tickflow_writer;

-- The newest recommendation per symbol and timeframe.
CREATE VIEW recommendation_latest AS
SELECT DISTINCT ON (symbol, timeframe) *
FROM recommendations
ORDER BY symbol, timeframe, as_of DESC, computed_at DESC;
