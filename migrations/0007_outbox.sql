-- The transactional outbox: domain events written in the same transaction as the
-- changes they describe, delivered after commit by the relay.
-- depends: 0006_full_text_search

CREATE TABLE outbox_events (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    sequence BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    event_type VARCHAR(100) NOT NULL,
    payload JSONB NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    available_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    delivered_at TIMESTAMP WITH TIME ZONE
);

CREATE INDEX idx_outbox_events_pending ON outbox_events(sequence) WHERE delivered_at IS NULL;
