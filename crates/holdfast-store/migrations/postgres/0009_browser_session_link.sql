-- Which browser (SSO) session a code was issued under, and so which one the
-- token family it was redeemed for belongs to: the digest of the SSO cookie
-- (as in browser_sessions.id_digest), NULL for codes from the first-party
-- challenge endpoint. RP-initiated logout signs out without asking only
-- when the ID token hint's family belongs to the browser asking (OIDC
-- RP-Initiated Logout 1.0 §6, issue 11).
ALTER TABLE auth_codes ADD COLUMN browser_session TEXT;
ALTER TABLE sessions ADD COLUMN browser_session TEXT;
