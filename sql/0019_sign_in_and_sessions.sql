-- Sign-in and sessions (issue 22, item 4 and the session bullets).

-- One spelling of an email: the app stores and looks up Users.emailKey (NFKC, then lower-cased).
-- Rows stored before were lower-cased only; compose them the same way. A row whose composed email
-- would be another user's is left as it is and reported (by id, never the address): no user is
-- lost or merged here; an operator merges them by hand.
DO $$
DECLARE
    r record;
BEGIN
    IF current_setting('server_encoding') <> 'UTF8' THEN
        RAISE WARNING 'emails not normalized: the database encoding is %, not UTF8', current_setting('server_encoding');
        RETURN;
    END IF;
    FOR r IN SELECT id, lower(normalize(email, NFKC)) AS composed FROM users
              WHERE email IS DISTINCT FROM lower(normalize(email, NFKC)) ORDER BY id LOOP
        IF EXISTS (SELECT 1 FROM users WHERE lower(email) = lower(r.composed) AND id <> r.id) THEN
            RAISE WARNING 'user %: its normalized email is another user''s; left unchanged (merge by hand)', r.id;
        ELSE
            UPDATE users SET email = r.composed WHERE id = r.id;
        END IF;
    END LOOP;
END $$;

-- Rehash on sign-in: replacing a verified hash by a stronger one of the same password is not a
-- password change, so it does not revoke the user's tokens. Users.rehash marks its own transaction
-- (set_config('medsync.password_rehash', 'on', true)); every other update still revokes.
CREATE OR REPLACE FUNCTION revoke_tokens_on_password_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('medsync.password_rehash', true), '') = 'on' THEN
        RETURN NEW;
    END IF;
    UPDATE api_tokens SET revoked_at = now() WHERE user_id = NEW.id AND revoked_at IS NULL;
    RETURN NEW;
END $$;

-- Soft lockout: the account key is now the user's id ('user:<id>', or 'email:<key>' for an
-- unknown email), and a 'pair' row counts one address's failures against one account: a locked
-- account refuses only the addresses that failed against it. Old account rows were keyed by
-- the email and are dropped.
ALTER TABLE login_throttle DROP CONSTRAINT IF EXISTS login_throttle_scope_check;
ALTER TABLE login_throttle ADD CONSTRAINT login_throttle_scope_check CHECK (scope IN ('account', 'address', 'pair'));
ALTER TABLE login_throttle ADD COLUMN last_failure_at timestamptz NOT NULL DEFAULT now();
DELETE FROM login_throttle WHERE scope = 'account';

-- Sessions: an absolute lifetime besides the idle one (MEDSYNC_TOKEN_MAX_AGE_SECONDS, 30 days by
-- default; tokens made before get 30 days from their creation), and what the owner sees in their
-- list of sessions: the browser's User-Agent (cut) and the address's prefix (IPv4 /24, IPv6 /64).
ALTER TABLE api_tokens ADD COLUMN absolute_expires_at timestamptz NOT NULL DEFAULT now() + interval '30 days';
UPDATE api_tokens SET absolute_expires_at = created_at + interval '30 days';
ALTER TABLE api_tokens ADD COLUMN user_agent text CHECK (length(user_agent) <= 200);
ALTER TABLE api_tokens ADD COLUMN address_prefix text CHECK (length(address_prefix) <= 64);
