-- What one signed webhook costs PostgreSQL (issue 11; measured in bench/README.md).

-- 1. A doctor cannot be in two live appointments at once, enforced by the schema: one exclusion
-- constraint on the doctor's live time ranges. It replaces the unique (doctor_id, starts_at) index
-- (which let 9:00–10:00 and 9:30–10:00 both in) and the bot's NOT EXISTS check before its insert:
-- under a cached generic plan that check chose a sequential scan of the whole table (its cost grew
-- with every appointment ever booked). The constraint's GiST index also serves the free-slot query
-- (doctor and window), so the two indexes that served those lookups go too.
-- btree_gist is a trusted extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist;
DO $$
DECLARE pairs bigint;
BEGIN
    SELECT count(*) INTO pairs FROM appointments a JOIN appointments b
        ON a.doctor_id = b.doctor_id AND a.id < b.id AND a.status <> 'cancelled' AND b.status <> 'cancelled'
       AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at;
    IF pairs > 0 THEN
        RAISE EXCEPTION 'migration 0014: % pair(s) of live appointments of one doctor overlap', pairs
            USING HINT = 'Nothing was changed. Cancel or move one appointment of each pair (SELECT a.id, b.id FROM appointments a JOIN appointments b ON a.doctor_id = b.doctor_id AND a.id < b.id AND a.status <> ''cancelled'' AND b.status <> ''cancelled'' AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at), then run the migration again.';
    END IF;
END $$;
DROP INDEX appointments_no_double_booking;
DROP INDEX appointments_doctor_live_ends_idx;
DROP INDEX appointments_live_during_idx;
ALTER TABLE appointments ADD CONSTRAINT appointments_no_double_booking
    EXCLUDE USING gist (doctor_id WITH =, tstzrange(starts_at, ends_at) WITH &&) WHERE (status <> 'cancelled');

-- 2. Foreign keys to workspaces that another key already implies: a message belongs to a
-- conversation of the same workspace ((workspace_id, conversation_id) → whatsapp_conversations), a
-- conversation and an appointment to a patient of the same workspace ((workspace_id, patient_id) →
-- patients), and patients → workspaces cascades on to all of them. Each of these checks took a
-- KEY SHARE lock on the clinic's one workspaces row, three times per webhook, from every worker at
-- once (a MultiXact on that row under load).
ALTER TABLE whatsapp_messages DROP CONSTRAINT whatsapp_messages_workspace_id_fkey;
ALTER TABLE whatsapp_conversations DROP CONSTRAINT whatsapp_conversations_workspace_id_fkey;
ALTER TABLE appointments DROP CONSTRAINT appointments_workspace_id_fkey;

-- 3. Two of whatsapp_messages' six indexes, written twice per webhook (the message and its reply)
-- and read by nothing the others do not serve: (workspace_id, id) is unique because id is, and no
-- foreign key points at the pair; (conversation_id, created_at, id) served "a conversation's latest
-- messages", which now read in id order on (conversation_id, id) (0012), the order they were written.
ALTER TABLE whatsapp_messages DROP CONSTRAINT whatsapp_messages_workspace_id_id_key;
DROP INDEX whatsapp_messages_conversation_idx;
