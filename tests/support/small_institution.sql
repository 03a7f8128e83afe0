-- A tiny synthetic institution in the demo platform's schema (deploy/demo), small enough
-- that the tests can state every action it must produce. All names are invented.
-- Plain SQL that SQLite, PostgreSQL and MariaDB all take.
CREATE TABLE sites (site_code VARCHAR(64) PRIMARY KEY, site_name TEXT, service TEXT);
CREATE TABLE staff_directory (staff_no VARCHAR(64) PRIMARY KEY, display_name TEXT, email TEXT, role_code TEXT, dept TEXT, home_site TEXT, program_name TEXT, last_modified TEXT);
CREATE TABLE learners (learner_id VARCHAR(64) PRIMARY KEY, display_name TEXT, email TEXT, career_interest TEXT, ferpa_optout TEXT, last_modified TEXT);
CREATE TABLE block_schedule (block_id VARCHAR(64) PRIMARY KEY, learner_id TEXT, site_code TEXT, service TEXT, block_type TEXT, begins TEXT, ends TEXT, state TEXT, last_modified TEXT);
CREATE TABLE block_team (block_id VARCHAR(64), staff_no VARCHAR(64), team_role TEXT, from_date TEXT, to_date TEXT, last_modified TEXT, PRIMARY KEY (block_id, staff_no));
CREATE TABLE assessments (assess_id VARCHAR(64) PRIMARY KEY, block_id TEXT, assessor_no TEXT, learner_id TEXT, submitted_on TEXT, rating INTEGER, anon INTEGER, recommend TEXT);
INSERT INTO sites VALUES ('S0001', 'Test General', 'Internal Medicine'), ('S0002', 'Test Children''s', 'Pediatrics');
INSERT INTO staff_directory VALUES
  ('E0001', 'Dr. Ada Example', 'e0001@example.edu', 'ATT', 'Internal Medicine', 'S0001', NULL, '2026-12-01 08:00:01'),
  ('E0002', 'Ben Example', 'e0002@example.edu', 'RES', 'Internal Medicine', 'S0001', NULL, '2026-12-01 08:00:02'),
  ('E0003', 'Cy Example', 'e0003@example.edu', 'RN', 'Nursing', 'S0001', NULL, '2026-12-01 08:00:03'),
  ('E0004', 'Di Example', 'e0004@example.edu', 'PHARM', 'Pharmacy', 'S0001', NULL, '2026-12-01 08:00:04'),
  ('E0005', 'Ed Example', 'e0005@example.edu', 'SW', 'Social Work', 'S0001', NULL, '2026-12-01 08:00:05'),
  ('E0006', 'Dr. Fay Example', 'e0006@example.edu', 'ATT', 'Pediatrics', 'S0002', NULL, '2026-12-01 08:00:06'),
  ('E0007', 'Gil Example', 'e0007@example.edu', 'RN', 'Nursing', 'S0002', NULL, '2026-12-01 08:00:07');
INSERT INTO learners VALUES
  ('L0001', 'Hana Student', 'l0001@example.edu', 'Internal Medicine', 'N', '2026-12-01 08:00:08'),
  ('L0002', 'Ivo Student', 'l0002@example.edu', 'Pediatrics', 'N', '2026-12-01 08:00:09'),
  ('L0003', 'Jo Student', 'l0003@example.edu', 'Surgery', 'Y', '2026-12-01 08:00:10');
INSERT INTO block_schedule VALUES
  ('B0001', 'L0001', 'S0001', 'Internal Medicine', 'CORE', '01/04/2027', '01/31/2027', 'CONF', '2026-12-01 09:00:01'),
  ('B0002', 'L0002', 'S0002', 'Pediatrics', 'CORE', '01/04/2027', '01/17/2027', 'CONF', '2026-12-01 09:00:02'),
  ('B0003', 'L0003', 'S0001', 'Internal Medicine', 'CORE', '01/04/2027', '01/31/2027', 'CONF', '2026-12-01 09:00:03'),
  ('B0004', 'L0002', 'S0001', 'Internal Medicine', 'ELEC', '02/01/2027', '02/14/2027', 'CANC', '2026-12-01 09:00:04');
INSERT INTO block_team VALUES
  ('B0001', 'E0001', 'ATT', NULL, NULL, '2026-12-01 10:00:01'),
  ('B0001', 'E0002', 'RES', '01/18/2027', '01/31/2027', '2026-12-01 10:00:02'),
  ('B0001', 'E0003', 'RN', NULL, NULL, '2026-12-01 10:00:03'),
  ('B0001', 'E0004', 'PHARM', NULL, NULL, '2026-12-01 10:00:04'),
  ('B0001', 'E0005', 'SW', NULL, NULL, '2026-12-01 10:00:05'),
  ('B0002', 'E0006', 'ATT', NULL, NULL, '2026-12-01 10:00:06'),
  ('B0002', 'E0007', 'RN', NULL, NULL, '2026-12-01 10:00:07'),
  ('B0003', 'E0001', 'ATT', NULL, NULL, '2026-12-01 10:00:08'),
  ('B0003', 'E0003', 'RN', NULL, NULL, '2026-12-01 10:00:09'),
  ('B0004', 'E0001', 'ATT', NULL, NULL, '2026-12-01 10:00:10');
INSERT INTO assessments VALUES
  ('A0001', 'B0001', 'E0001', 'L0001', '2027-02-03 10:00:00', 8, 0, 'Y');
