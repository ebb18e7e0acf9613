-- The online dossiers per service of each cell in one text value per cell (format:
-- dxhub_ingest::services — a line per service, `service_code`, a tab, the count), instead
-- of one ps_services row per (cell, service): a batch rewrites the few cells it touches.
-- services_online is kept in each cell (the number of lines), as the SQLite store does.
CREATE TABLE ps_cell_services (
    province_code TEXT COLLATE "C" NOT NULL,
    month         TEXT COLLATE "C" NOT NULL,
    services      TEXT NOT NULL,
    PRIMARY KEY (province_code, month)
);
-- Rewritten whole by every batch that touches the cell: stored out of line, uncompressed.
ALTER TABLE ps_cell_services ALTER COLUMN services SET STORAGE EXTERNAL;
INSERT INTO ps_cell_services (province_code, month, services)
SELECT province_code, month, string_agg(service_code || chr(9) || online, chr(10))
  FROM ps_services
 WHERE online > 0
 GROUP BY province_code, month;
ALTER TABLE ps_cells ADD COLUMN services_online BIGINT NOT NULL DEFAULT 0;
UPDATE ps_cells c SET services_online = (
    SELECT count(*) FROM ps_services s
     WHERE s.province_code = c.province_code AND s.month = c.month AND s.online > 0);
DROP TABLE ps_services;
