-- The bot's free slots (FreeSlots) read a doctor's live appointments overlapping a window of a few
-- days: `tstzrange(starts_at, ends_at) && tstzrange($from, $from + days + 2 days)`. A btree on
-- starts_at or ends_at bounds only one side (the whole past, or the whole future, of the table);
-- this range index returns the appointments inside the window and nothing else (bench/README.md).
-- Plain CREATE INDEX (the migration runs in a transaction): a second or two at 100k appointments.
CREATE INDEX appointments_live_during_idx ON appointments USING gist (tstzrange(starts_at, ends_at)) WHERE status <> 'cancelled';
