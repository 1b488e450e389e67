-- A tenant's look on its hosted pages (logo, accent colour, support
-- link) as JSON; NULL is the server's default look (issue 16).
ALTER TABLE tenants ADD COLUMN branding TEXT;
