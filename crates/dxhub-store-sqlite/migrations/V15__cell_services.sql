-- The online dossiers per service of each cell in one text value per cell (format:
-- dxhub_ingest::services — a line per service, `service_code`, a tab, the count), instead
-- of one ps_services row per (cell, service): a batch rewrites the few cells it touches.
CREATE TABLE ps_cell_services (
    province_code TEXT NOT NULL,
    month         TEXT NOT NULL,
    services      TEXT NOT NULL,
    PRIMARY KEY (province_code, month)
);
INSERT INTO ps_cell_services (province_code, month, services)
SELECT province_code, month, group_concat(service_code || char(9) || online, char(10))
  FROM ps_services
 GROUP BY province_code, month;
DROP TABLE ps_services;
