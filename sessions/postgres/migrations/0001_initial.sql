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
) WITH (fillfactor = 70);

-- "All of this customer's conversations" and "who is with this handler". Neither index
-- has a column that every append changes (last_seq, updated_at), and the table keeps
-- room on its pages, so the per-message projection update is a HOT update: no index
-- is touched. Sorting a customer's few conversations by time happens at query time.
CREATE INDEX conversations_by_customer ON conversations (customer_id);
CREATE INDEX conversations_by_handler ON conversations (handler) WHERE status = 'open';

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

-- One append in one round trip: key check, optimistic seq check, events, projection and
-- key, atomically. Returns the recorded seqs for a key seen before (replayed), the new
-- seqs, or the conversation's actual last seq when `expected` no longer holds.
CREATE FUNCTION tandem_append(
    p_id text,
    p_expected bigint,
    p_events jsonb,
    p_key text,
    p_customer_id text,
    p_status text,
    p_handler text,
    p_channels text[],
    p_last_seq bigint,
    p_started_at timestamptz,
    p_updated_at timestamptz,
    p_handoff_context jsonb,
    p_read_marks jsonb
) RETURNS TABLE (replayed boolean, seqs bigint[], actual bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_seqs bigint[];
    v_actual bigint;
BEGIN
    IF p_key IS NOT NULL THEN
        SELECT k.seqs INTO v_seqs FROM idempotency_keys k WHERE k.key = p_key;
        IF FOUND THEN
            RETURN QUERY SELECT true, v_seqs, NULL::bigint;
            RETURN;
        END IF;
    END IF;
    IF p_expected = 0 THEN
        INSERT INTO conversations AS c (id, customer_id, status, handler, channels, last_seq,
                                        started_at, updated_at, handoff_context, read_marks)
        VALUES (p_id, p_customer_id, p_status, p_handler, p_channels, p_last_seq,
                p_started_at, p_updated_at, coalesce(p_handoff_context, '{}'::jsonb),
                coalesce(p_read_marks, '{}'::jsonb))
        ON CONFLICT (id) DO NOTHING;
    ELSE
        -- A NULL context or read marks means "unchanged": most appends are chat messages,
        -- and re-sending the transcript with each one would cost more than the message.
        UPDATE conversations c SET customer_id = p_customer_id, status = p_status,
            handler = p_handler, channels = p_channels, last_seq = p_last_seq,
            started_at = p_started_at, updated_at = p_updated_at,
            handoff_context = coalesce(p_handoff_context, c.handoff_context),
            read_marks = coalesce(p_read_marks, c.read_marks)
        WHERE c.id = p_id AND c.last_seq = p_expected;
    END IF;
    IF NOT FOUND THEN
        SELECT c.last_seq INTO v_actual FROM conversations c WHERE c.id = p_id;
        RETURN QUERY SELECT false, NULL::bigint[], coalesce(v_actual, 0);
        RETURN;
    END IF;
    INSERT INTO events (conversation_id, seq, type, at, actor, data)
    SELECT p_id, (e->>'seq')::bigint, e->>'type', (e->>'at')::timestamptz, e->>'actor', e->'data'
    FROM jsonb_array_elements(p_events) AS e;
    SELECT array_agg((e->>'seq')::bigint) INTO v_seqs FROM jsonb_array_elements(p_events) AS e;
    IF p_key IS NOT NULL THEN
        -- A conflict here means one key was used for two different commands (a client
        -- bug): the first keeps it. A retry of the same command cannot get this far, the
        -- seq check above stops it.
        INSERT INTO idempotency_keys (key, conversation_id, seqs) VALUES (p_key, p_id, v_seqs)
        ON CONFLICT (key) DO NOTHING;
    END IF;
    RETURN QUERY SELECT false, v_seqs, NULL::bigint;
END;
$$;

-- Several appends (of different conversations) in one round trip and one commit: the
-- store batches what arrives while its previous batch is being written.
CREATE FUNCTION tandem_append_batch(p_items jsonb)
RETURNS TABLE (idx bigint, replayed boolean, seqs bigint[], actual bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_item jsonb;
    v_idx bigint;
BEGIN
    FOR v_item, v_idx IN SELECT value, ordinality FROM jsonb_array_elements(p_items)
                         WITH ORDINALITY LOOP
        RETURN QUERY SELECT v_idx, r.replayed, r.seqs, r.actual FROM tandem_append(
            v_item->>'id', (v_item->>'expected')::bigint, v_item->'events', v_item->>'key',
            v_item->>'customer_id', v_item->>'status', v_item->>'handler',
            ARRAY(SELECT jsonb_array_elements_text(v_item->'channels')),
            (v_item->>'last_seq')::bigint, (v_item->>'started_at')::timestamptz,
            (v_item->>'updated_at')::timestamptz,
            nullif(v_item->'handoff_context', 'null'::jsonb),
            nullif(v_item->'read_marks', 'null'::jsonb)) AS r;
    END LOOP;
END;
$$;
