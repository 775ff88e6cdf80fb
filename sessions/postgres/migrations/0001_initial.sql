-- Tandem schema 1: the append-only event log and its conversation projection.

CREATE TABLE conversations (
    id              text PRIMARY KEY,
    customer_id     text        NOT NULL,
    status          text        NOT NULL,
    handler         text        NOT NULL,
    channels        text[]      NOT NULL,
    last_seq        bigint      NOT NULL,
    started_at      timestamptz,
    updated_at      timestamptz,
    handoff_context jsonb       NOT NULL DEFAULT '{}'::jsonb,
    read_marks      jsonb       NOT NULL DEFAULT '{}'::jsonb
);

-- "All of this customer's conversations", newest first; and "the open one".
CREATE INDEX conversations_by_customer ON conversations (customer_id, updated_at DESC);
CREATE INDEX conversations_by_handler ON conversations (handler, updated_at DESC)
    WHERE status = 'open';

-- The log itself: (conversation_id, seq) is unique, which is what makes a stale
-- append fail instead of forking the conversation.
CREATE TABLE events (
    conversation_id text        NOT NULL REFERENCES conversations (id),
    seq             bigint      NOT NULL CHECK (seq > 0),
    type            text        NOT NULL,
    at              timestamptz NOT NULL,
    actor           text        NOT NULL,
    data            jsonb       NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);

-- A command's idempotency key, written in the same transaction as its events.
CREATE TABLE idempotency_keys (
    key             text PRIMARY KEY,
    conversation_id text        NOT NULL REFERENCES conversations (id),
    seqs            bigint[]    NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
