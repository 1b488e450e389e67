-- Cookie delivery of refresh tokens, and the browser origins a client's
-- pages may call the token endpoint from (CORS and cookie-mode CSRF check).
ALTER TABLE clients ADD COLUMN refresh_token_in_cookie BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';
