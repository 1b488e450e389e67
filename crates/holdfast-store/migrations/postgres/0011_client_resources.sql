-- The resources (RFC 8707) a client may name besides the tenant's default
-- audience, as a JSON list of exact URIs (issue 11 §2). Existing clients get
-- none: from now on they get tokens for the default audience only, which
-- closes the hole of any client asking for any audience.
ALTER TABLE clients ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';
