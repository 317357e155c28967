-- The bot's free slots need the workspace's time zone, or UTC when PostgreSQL does not know the
-- stored name (the API checks it when it is set; rows written otherwise, or a zone removed from the
-- time zone database later, must not break the bot). Looking the name up in pg_timezone_names read the
-- whole time zone database on every call: 30–37 ms of PostgreSQL's CPU per bot answer, more than the
-- rest of the webhook many times over. Asking for the zone directly costs microseconds.
CREATE FUNCTION medsync_known_timezone(tz text) RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM now() AT TIME ZONE tz;
    RETURN tz;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN 'UTC';
END $$;
