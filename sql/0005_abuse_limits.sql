-- Abuse limits: token expiry, revocation on password change, login throttling.

-- API tokens expire; every use slides expires_at forward (MEDSYNC_TOKEN_TTL_SECONDS, 30 days by
-- default). Tokens that exist before this migration get 30 days from now.
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz NOT NULL DEFAULT now() + interval '30 days';

-- A password change (API, CLI, or `user create` over an existing user) revokes every token of the
-- user, whatever path made it: the database enforces it, not each caller.
CREATE FUNCTION revoke_tokens_on_password_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE api_tokens SET revoked_at = now() WHERE user_id = NEW.id AND revoked_at IS NULL;
    RETURN NEW;
END $$;
CREATE TRIGGER users_password_change_revokes_tokens
    AFTER UPDATE OF password_hash ON users
    FOR EACH ROW WHEN (OLD.password_hash IS DISTINCT FROM NEW.password_hash)
    EXECUTE FUNCTION revoke_tokens_on_password_change();

-- Failed logins, per account (normalized email) and per client address (nginx's REMOTE_ADDR).
-- `failures` counts within the window that started at `window_start`; reaching the limit locks the
-- key until `locked_until`, each consecutive lockout twice as long as the one before.
CREATE TABLE login_throttle (
    scope         text NOT NULL CHECK (scope IN ('account', 'address')),
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 320),
    failures      integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    window_start  timestamptz NOT NULL DEFAULT now(),
    lockouts      integer NOT NULL DEFAULT 0 CHECK (lockouts >= 0),
    locked_until  timestamptz,
    PRIMARY KEY (scope, key)
);
CREATE INDEX login_throttle_window_idx ON login_throttle (window_start);
