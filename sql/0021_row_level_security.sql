-- Defence below the SQL: row-level security on every tenant table. A query that forgets its
-- `workspace_id = …` sees only the rows of the request's workspace, and none when no workspace is set.
--
-- Roles (README, "Database roles"):
--   * the owner (whoever runs `medsync-jobs migrate`, e.g. `medsync_owner`) owns the schema and the
--     SECURITY DEFINER functions below; the operator CLI and the jobs connect as it too;
--   * `medsync_runtime` (NOLOGIN) holds the grants of the web workers; their login role (e.g.
--     `medsync_app`) is a member of it, is not the owner, not superuser and has no BYPASSRLS, so the
--     policies apply to every statement it runs.
--   * the workspace of a request is the setting `medsync.workspace_id` (text; '' or unset: none),
--     set per session by the workers (PGConnection.workspace) and reset when a session changes hands.
--
-- Adding a tenant table later (a table with `workspace_id bigint`): one line in its migration,
--     SELECT medsync_isolate('the_table');
-- (the runtime's grants on tables the owner creates later come from the default privileges below).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'medsync_runtime') THEN
        CREATE ROLE medsync_runtime NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database of the cluster created it meanwhile
END $$;

-- The request's workspace, NULL when none is set: inlined into each policy (a plain STABLE SQL
-- function), so `workspace_id = medsync_workspace()` still uses the (workspace_id, …) indexes.
CREATE FUNCTION medsync_workspace() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT NULLIF(current_setting('medsync.workspace_id', true), '')::bigint
$$;

-- The policy every tenant table gets: its rows of the current workspace only, for reading and for
-- writing (a row written for another workspace fails `new row violates row-level security policy`).
CREATE FUNCTION medsync_isolate(tbl regclass, col name DEFAULT 'workspace_id') RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('CREATE POLICY workspace_isolation ON %s USING (%I = medsync_workspace()) WITH CHECK (%I = medsync_workspace())',
                   tbl, col, col);
END $$;

SELECT medsync_isolate('workspaces', 'id');
SELECT medsync_isolate('memberships');
SELECT medsync_isolate('patients');
SELECT medsync_isolate('doctor_availability');
SELECT medsync_isolate('doctor_time_off');
SELECT medsync_isolate('whatsapp_senders');
SELECT medsync_isolate('whatsapp_conversations');
SELECT medsync_isolate('whatsapp_messages');
SELECT medsync_isolate('appointments');
SELECT medsync_isolate('reminder_settings');
SELECT medsync_isolate('reminder_log');
SELECT medsync_isolate('bundle_batches');
SELECT medsync_isolate('bundle_recipients');
SELECT medsync_isolate('sender_provisionings');
SELECT medsync_isolate('audit_log');
SELECT medsync_isolate('invitations');            -- 0017
SELECT medsync_isolate('sender_number_claims');   -- 0018
SELECT medsync_isolate('workspace_subaccounts');  -- 0018
SELECT medsync_isolate('idempotent_requests');    -- 0020
-- Not tenant tables (no workspace): users, api_tokens, login_throttle, schema_migrations.

-- What the runtime may do. No DDL, no ownership; sequences for the identity columns.
GRANT USAGE ON SCHEMA public TO medsync_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO medsync_runtime;
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM medsync_runtime;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO medsync_runtime;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO medsync_runtime;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO medsync_runtime;

-- The few things that legitimately cross workspaces, each a narrow SECURITY DEFINER function owned
-- by the owner (so the policies do not apply inside it). Each sets or returns no more than its
-- caller needs; none takes SQL. `SET search_path` keeps a caller's objects out of them. The three
-- every webhook calls are PL/pgSQL: its statements are planned once per session, where a SQL
-- function's are planned again at every call.

-- Routing an inbound webhook by its `To` (and a status callback's subaccount by its `From`): the
-- workspace of the sender with that number (the active one, else the most recent inactive one, as
-- SenderRoute.lookup orders them) becomes the session's workspace; '' when no sender has it.
CREATE FUNCTION medsync_enter_sender(phone text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    ws bigint;
BEGIN
    SELECT s.workspace_id INTO ws FROM whatsapp_senders s WHERE s.phone_number = phone
     ORDER BY s.is_active DESC, s.id DESC LIMIT 1;
    PERFORM set_config('medsync.workspace_id', COALESCE(ws::text, ''), false);
END $$;

-- A status callback: the workspace of the message with this MessageSid becomes the session's
-- workspace ('' when none); the UPDATE that follows still requires the posting account to be the
-- sender's (StatusCallback.apply).
CREATE FUNCTION medsync_enter_message(sid text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    ws bigint;
BEGIN
    SELECT m.workspace_id INTO ws FROM whatsapp_messages m WHERE m.twilio_sid = sid;
    PERFORM set_config('medsync.workspace_id', COALESCE(ws::text, ''), false);
END $$;

-- The inbound recording statement: is this MessageSid another workspace's message? (Yes/no only.)
CREATE FUNCTION medsync_message_elsewhere(sid text, ws bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM whatsapp_messages x WHERE x.twilio_sid = sid AND x.workspace_id <> ws);
END $$;

-- Signature checks of status callbacks: the subaccount named by AccountSid, else by the sender
-- number in From, and its encrypted token (StatusCallback.subaccountToken).
CREATE FUNCTION medsync_subaccount_token(account_sid text, from_phone text)
RETURNS TABLE (twilio_subaccount_sid text, twilio_subaccount_token_enc text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT s.twilio_subaccount_sid, s.twilio_subaccount_token_enc FROM whatsapp_senders s
     WHERE s.twilio_subaccount_token_enc IS NOT NULL
       AND (s.twilio_subaccount_sid = account_sid OR s.phone_number = from_phone)
     ORDER BY (s.twilio_subaccount_sid = account_sid) DESC, s.is_active DESC, s.id DESC LIMIT 1
$$;

-- Sign-in and GET /api/me: the workspaces a user belongs to, with their names and the user's role.
CREATE FUNCTION medsync_user_workspaces(uid bigint)
RETURNS TABLE (workspace_id bigint, name text, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT m.workspace_id, w.name, m.role::text FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
     WHERE m.user_id = uid ORDER BY m.workspace_id
$$;

-- GET /metrics: message counts of the whole platform (counts only, no row).
CREATE FUNCTION medsync_message_counts()
RETURNS TABLE (direction text, status text, error_code integer, n bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT m.direction::text, m.status::text, m.error_code, count(*) FROM whatsapp_messages m GROUP BY 1, 2, 3
$$;

-- Provisioning a number: which of these numbers a workspace holds (sender_number_claims, 0018), in
-- any workspace: numbers only.
CREATE FUNCTION medsync_held_numbers(numbers text[]) RETURNS TABLE (phone_number text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT c.phone_number FROM sender_number_claims c WHERE c.released_at IS NULL AND c.phone_number = ANY (numbers)
$$;

-- A sender that becomes active claims its number against every workspace's claims (0018's trigger):
-- it must see them all, so it runs as the owner.
ALTER FUNCTION whatsapp_senders_claim_number() SECURITY DEFINER SET search_path = pg_catalog, public;

-- An invitee's lookup and accept (no one signed in yet): the workspace of the invitation whose token
-- has this SHA-256 becomes the session's workspace ('' when none). The hash of a 256-bit secret
-- token: nothing to enumerate.
CREATE FUNCTION medsync_enter_invitation(hash bytea) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    ws bigint;
BEGIN
    SELECT i.workspace_id INTO ws FROM invitations i WHERE i.token_hash = hash;
    PERFORM set_config('medsync.workspace_id', COALESCE(ws::text, ''), false);
END $$;

-- Free slots: a doctor's live appointments in every workspace, as busy time only (no row, no
-- patient, no reason), between two instants. The no-double-booking constraint already spans
-- workspaces; the offered slots must agree with it.
CREATE FUNCTION medsync_doctor_busy(doctor bigint, from_ts timestamptz, to_ts timestamptz)
RETURNS TABLE (starts_at timestamptz, ends_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT a.starts_at, a.ends_at FROM appointments a
     WHERE a.doctor_id = doctor AND a.status <> 'cancelled'
       AND tstzrange(a.starts_at, a.ends_at) && tstzrange(from_ts, to_ts)
$$;

REVOKE EXECUTE ON FUNCTION medsync_enter_sender(text), medsync_enter_message(text), medsync_message_elsewhere(text, bigint),
    medsync_subaccount_token(text, text), medsync_user_workspaces(bigint), medsync_message_counts(),
    medsync_held_numbers(text[]), medsync_enter_invitation(bytea),
    medsync_doctor_busy(bigint, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION medsync_enter_sender(text), medsync_enter_message(text), medsync_message_elsewhere(text, bigint),
    medsync_subaccount_token(text, text), medsync_user_workspaces(bigint), medsync_message_counts(),
    medsync_held_numbers(text[]), medsync_enter_invitation(bytea),
    medsync_doctor_busy(bigint, timestamptz, timestamptz) TO medsync_runtime;
