-- Grace needs proof of the holder (DESIGN.md §4 step 4, docs/decisions/0001):
-- a public client's unbound refresh families get grace retries only when
-- the client opted in and accepted the risk. Off for every existing client:
-- from this migration on, their unbound families rotate strictly.
ALTER TABLE clients ADD COLUMN unbound_grace_accept_risk BOOLEAN NOT NULL DEFAULT FALSE;
