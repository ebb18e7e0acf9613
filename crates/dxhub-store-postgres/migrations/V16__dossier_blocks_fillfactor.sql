-- A batch rewrites the blocks it touches in place (UPDATE, same first_key): room left on
-- each page lets the new version stay on its page (a HOT update, no index entry).
ALTER TABLE dossier_blocks SET (fillfactor = 80);
