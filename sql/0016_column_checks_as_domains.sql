-- The single-column CHECKs of the tables every webhook writes, as domains (issue 11; measured in
-- bench/README.md). PostgreSQL 15 parses and plans every CHECK of a table again for each statement
-- that writes a row of it (ExecRelCheck reads pg_constraint.conbin with stringToNode, per execution,
-- even of a prepared statement), and an UPDATE evaluates all of them, also for columns it did not
-- set: ~9 % of PostgreSQL's CPU per webhook. A domain's checks are parsed and planned once per
-- session (its type cache) and run only where a value is assigned to the column.
--
-- Every invariant is as strong as before: the same allowed values, NULL where the column allowed NULL
-- (NOT NULL stays on the column), and each domain constraint keeps the name of the table CHECK it
-- replaces, so a violation still reports SQLSTATE 23514 with the same constraint name.
--
-- How, on a big table: a column changed to a domain WITH checks is rewritten, with all its table's
-- indexes (PostgreSQL cannot tell the values pass without recomputing them). A domain without checks
-- over the column's own type is a relabelling: no rewrite, the indexes on the column are kept. So
-- each domain is created bare, the table CHECK dropped (it would otherwise be re-added and
-- re-validated), the column's type changed, and the check then added to the domain, which validates
-- it by reading the table once (no rewrite). One transaction: no one sees the column unchecked.
--
-- Not moved: appointments.status. Its column is in the predicate of the exclusion constraint
-- appointments_no_double_booking (0014), which a type change rebuilds — a GiST build of every live
-- appointment under an exclusive lock (14 s for 200,000 rows on the 2-core machine) for one check
-- per booking. ends_at > starts_at spans two columns: it stays a table CHECK.

-- patients (the webhook's language and consent updates; every insert).
CREATE DOMAIN patient_phone AS text;
ALTER TABLE patients DROP CONSTRAINT patients_phone_check, ALTER COLUMN phone TYPE patient_phone;
ALTER DOMAIN patient_phone ADD CONSTRAINT patients_phone_check CHECK (VALUE ~ '^\+[1-9][0-9]{6,14}$');   -- E.164

CREATE DOMAIN patient_language AS text;
ALTER TABLE patients DROP CONSTRAINT patients_preferred_language_check, ALTER COLUMN preferred_language TYPE patient_language;
ALTER DOMAIN patient_language ADD CONSTRAINT patients_preferred_language_check CHECK (VALUE IN ('en', 'es'));

CREATE DOMAIN patient_consent_source AS text;
ALTER TABLE patients DROP CONSTRAINT patients_consent_source_check, ALTER COLUMN consent_source TYPE patient_consent_source;
ALTER DOMAIN patient_consent_source ADD CONSTRAINT patients_consent_source_check CHECK (VALUE IN ('whatsapp', 'staff', 'bundle'));

-- whatsapp_conversations (updated twice per webhook).
CREATE DOMAIN conversation_state AS text;
ALTER TABLE whatsapp_conversations DROP CONSTRAINT whatsapp_conversations_state_check, ALTER COLUMN state TYPE conversation_state;
ALTER DOMAIN conversation_state ADD CONSTRAINT whatsapp_conversations_state_check CHECK (VALUE IN ('bot', 'handoff'));

CREATE DOMAIN conversation_unread_count AS integer;
ALTER TABLE whatsapp_conversations DROP CONSTRAINT whatsapp_conversations_unread_count_check,
    ALTER COLUMN unread_count TYPE conversation_unread_count;
ALTER DOMAIN conversation_unread_count ADD CONSTRAINT whatsapp_conversations_unread_count_check CHECK (VALUE >= 0);

-- whatsapp_messages (two inserts per webhook). The forward-status trigger fires on UPDATE OF status,
-- a column PostgreSQL will not change the type of under a trigger: it is dropped and created again as
-- it was (0001).
CREATE DOMAIN message_direction AS text;
ALTER TABLE whatsapp_messages DROP CONSTRAINT whatsapp_messages_direction_check, ALTER COLUMN direction TYPE message_direction;
ALTER DOMAIN message_direction ADD CONSTRAINT whatsapp_messages_direction_check CHECK (VALUE IN ('inbound', 'outbound'));

CREATE DOMAIN message_media AS jsonb;
ALTER TABLE whatsapp_messages DROP CONSTRAINT whatsapp_messages_media_check, ALTER COLUMN media TYPE message_media;
ALTER DOMAIN message_media ADD CONSTRAINT whatsapp_messages_media_check CHECK (jsonb_typeof(VALUE) = 'array');

CREATE DOMAIN message_status AS text;
DROP TRIGGER whatsapp_messages_forward_status ON whatsapp_messages;
ALTER TABLE whatsapp_messages DROP CONSTRAINT whatsapp_messages_status_check, ALTER COLUMN status TYPE message_status;
ALTER DOMAIN message_status ADD CONSTRAINT whatsapp_messages_status_check
    CHECK (VALUE IN ('queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'undelivered', 'received'));
CREATE TRIGGER whatsapp_messages_forward_status BEFORE UPDATE OF status, error_code, error_message ON whatsapp_messages
    FOR EACH ROW EXECUTE FUNCTION whatsapp_messages_forward_status();
