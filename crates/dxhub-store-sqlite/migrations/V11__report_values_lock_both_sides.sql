-- A value row may not be moved into a locked revision either: check the revision it goes
-- to as well as the one it leaves (PostgreSQL's trigger does both since V10).
DROP TRIGGER report_values_locked_update;
CREATE TRIGGER report_values_locked_update BEFORE UPDATE ON report_values
WHEN (SELECT state FROM reports WHERE id = OLD.report_id) NOT IN ('draft', 'returned')
  OR (SELECT state FROM reports WHERE id = NEW.report_id) NOT IN ('draft', 'returned')
BEGIN SELECT RAISE(ABORT, 'the values of this report are locked'); END;
CREATE TRIGGER report_evidence_locked_move BEFORE UPDATE OF report_id ON report_evidence
BEGIN SELECT RAISE(ABORT, 'evidence files never change'); END;
