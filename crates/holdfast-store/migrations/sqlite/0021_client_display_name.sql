-- The name people see on the hosted pages ("continue to {name}");
-- NULL shows the client_id (issue 16).
ALTER TABLE clients ADD COLUMN display_name TEXT;
