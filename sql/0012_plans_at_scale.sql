-- Indexes for the hot statements whose cost grew with the size of a table (bench/scale: EXPLAIN at
-- 1M messages and 100k appointments; the plans before and after are in bench/README.md).
-- Plain CREATE INDEX (the migration runs in a transaction): writes to each table wait while its
-- index is built, a few seconds at that size.

-- Overlap with a doctor's live appointments (the webhook's booking, free slots, the staff's
-- booking): `starts_at < $end AND ends_at > $start`. On (doctor_id, starts_at) the scan walked the
-- doctor's whole past; on ends_at it starts at the slot and reads only what ends after it.
CREATE INDEX appointments_doctor_live_ends_idx ON appointments (doctor_id, ends_at) WHERE status <> 'cancelled';

-- The inbox (GET /api/whatsapp/conversations) orders by COALESCE(last_message_at, created_at), id:
-- the index on last_message_at alone could not serve that order, so every page sorted all of the
-- clinic's conversations. This one serves the first page and every cursor page in order.
CREATE INDEX whatsapp_conversations_inbox_order_idx
    ON whatsapp_conversations (workspace_id, (COALESCE(last_message_at, created_at)) DESC, id DESC) WHERE deleted_at IS NULL;
DROP INDEX whatsapp_conversations_inbox_idx;
-- The inbox's polling (`since`: conversations changed after the previous server_time).
CREATE INDEX whatsapp_conversations_changed_idx ON whatsapp_conversations (workspace_id, updated_at) WHERE deleted_at IS NULL;

-- A thread's latest page and the pages before it (`ORDER BY id DESC`, `id < $cursor`): without it the
-- planner may walk the primary key backwards from the newest message of the whole table.
CREATE INDEX whatsapp_messages_conversation_id_idx ON whatsapp_messages (conversation_id, id);

-- Every reminders run looks for claims left 'sending' by a run that died: a scan of the whole log
-- without this (tiny: only rows being sent are in it).
CREATE INDEX reminder_log_sending_idx ON reminder_log (created_at) WHERE status = 'sending';
