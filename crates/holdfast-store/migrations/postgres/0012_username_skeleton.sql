-- The confusable skeleton (Unicode UTS #39) of each username, unique per
-- tenant, so that `аlice` (Cyrillic а) cannot be created beside `alice`
-- even by two requests at once (issue 11 §4). SQL cannot compute a
-- skeleton: rows that exist now keep NULL here and the store fills them in
-- from code when it connects (see `fill_username_skeletons`). NULLs do not
-- collide in a unique index, on either back end.
ALTER TABLE users ADD COLUMN username_skeleton TEXT;
CREATE UNIQUE INDEX users_tenant_username_skeleton ON users (tenant_id, username_skeleton);
