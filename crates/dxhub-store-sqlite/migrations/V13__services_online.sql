-- services_online kept in each cell (the number of its ps_services rows), maintained by
-- every batch together with ps_services, so reading the province × month table needs no
-- count over ps_services.
ALTER TABLE ps_cells ADD COLUMN services_online INTEGER NOT NULL DEFAULT 0;
UPDATE ps_cells SET services_online = (
    SELECT count(*) FROM ps_services s
     WHERE s.province_code = ps_cells.province_code AND s.month = ps_cells.month);
