-- The conversation's call in progress (`ConversationState.call`) in its state snapshot,
-- so a state read back from the database (another node, a restart) still knows its call.
ALTER TABLE conversations ADD COLUMN call jsonb;

-- The batch append also sets the call when the item carries one ("call" present: the
-- append changed it; JSON null: the call ended). In the same transaction as the rest.
CREATE OR REPLACE FUNCTION tandem_append_batch(p_items jsonb)
RETURNS TABLE (idx bigint, replayed boolean, seqs bigint[], actual bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_item jsonb;
    v_idx bigint;
    r record;
BEGIN
    FOR v_item, v_idx IN SELECT value, ordinality FROM jsonb_array_elements(p_items)
                         WITH ORDINALITY LOOP
        SELECT * INTO r FROM tandem_append(
            v_item->>'id', (v_item->>'expected')::bigint, v_item->'events', v_item->>'key',
            v_item->>'customer_id', v_item->>'status', v_item->>'handler',
            ARRAY(SELECT jsonb_array_elements_text(v_item->'channels')),
            (v_item->>'last_seq')::bigint, (v_item->>'started_at')::timestamptz,
            (v_item->>'updated_at')::timestamptz,
            nullif(v_item->'handoff_context', 'null'::jsonb),
            nullif(v_item->'read_marks', 'null'::jsonb));
        IF r.seqs IS NOT NULL AND NOT r.replayed AND v_item ? 'call' THEN
            UPDATE conversations SET call = nullif(v_item->'call', 'null'::jsonb)
            WHERE id = v_item->>'id';
        END IF;
        RETURN QUERY SELECT v_idx, r.replayed, r.seqs, r.actual;
    END LOOP;
END;
$$;
