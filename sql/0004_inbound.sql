-- Inbound webhook: the bot's reply is linked to the inbound message it answers, so a retried
-- webhook (same MessageSid) answers the very same reply without storing or booking anything new.
ALTER TABLE whatsapp_messages
    ADD COLUMN in_reply_to_id bigint REFERENCES whatsapp_messages (id) ON DELETE CASCADE;
-- At most one automatic reply per inbound message.
CREATE UNIQUE INDEX whatsapp_messages_one_reply_key ON whatsapp_messages (in_reply_to_id) WHERE in_reply_to_id IS NOT NULL;
