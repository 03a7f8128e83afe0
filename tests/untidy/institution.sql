-- An untidy institution: a scheduling platform's own export ("Northwind Clinical
-- Scheduler"), in its own table and column names, as real exports come: codes with stray
-- spaces and mixed case, text dates, NULL end dates, duplicated rows, a roster split into
-- several rows per person, a roster row starting before its rotation, a block with no end
-- date. All names are invented. Plain SQL that SQLite, PostgreSQL and MariaDB all take.
CREATE TABLE NW_PERSON (PersonKey VARCHAR(32), FullName TEXT, PersonType TEXT, Dept TEXT, ProgramName TEXT, ProgramPosition TEXT, FerpaHold TEXT, EditedAt TEXT);
CREATE TABLE NW_BLOCK (BlockKey VARCHAR(32), LearnerKey TEXT, Location TEXT, Service TEXT, BlockType TEXT, StartsOn TEXT, EndsOn TEXT, BlockState TEXT, EditedAt TEXT);
CREATE TABLE NW_ROSTER (BlockKey VARCHAR(32), PersonKey VARCHAR(32), TeamRole TEXT, FromDay TEXT, ToDay TEXT);
CREATE TABLE NW_EVAL (EvalKey VARCHAR(32), BlockKey TEXT, EvaluatorKey TEXT, LearnerKey TEXT, SubmittedAt TEXT, Rating TEXT, Anon TEXT, WouldRecommend TEXT);
INSERT INTO NW_PERSON VALUES
  ('S-100 ', 'Quinn Learner', 'Student', 'Internal Medicine', NULL, NULL, NULL, '2026-11-30 08:00:00'),
  ('S-100', 'Quinn Learner', 'student ', 'Internal Medicine', NULL, NULL, '', '2026-11-30 08:00:00'),
  ('S-200', 'Uma Learner', 'STUDENT', 'Surgery', NULL, NULL, 'N', '2026-11-30 08:00:01'),
  ('F-1', 'Dr. Rhea Attending', 'att', 'Internal Medicine', 'Northwind IM Residency', 'PD ', NULL, '2026-11-30 08:00:02'),
  ('F-2', 'Sol Resident', 'RES ', 'Internal Medicine', 'Northwind IM Residency', NULL, NULL, '2026-11-30 08:00:03'),
  ('N-7', 'Tam Nurse', 'rn', 'Nursing', NULL, NULL, NULL, '2026-11-30 08:00:04');
INSERT INTO NW_BLOCK VALUES
  ('B-1', 'S-100 ', 'Northwind General', 'Internal Medicine', 'Core', ' 04-Jan-2027', '31-JAN-2027', 'Confirmed ', '2026-12-01 09:00:00'),
  ('B-1', 'S-100 ', 'Northwind General', 'Internal Medicine', 'Core', ' 04-Jan-2027', '31-JAN-2027', 'Confirmed ', '2026-12-01 09:00:00'),
  ('B-2', 'S-200', 'Northwind General', 'Surgery', 'core', '04-Jan-2027', NULL, 'confirmed', '2026-12-01 09:00:01');
INSERT INTO NW_ROSTER VALUES
  ('B-1', 'F-1', 'ATT', '04-Jan-2027', '08-Jan-2027'),
  ('B-1', 'F-1 ', 'att ', '11-Jan-2027', '15-Jan-2027'),
  ('B-1', 'F-1', 'ATT', '11-jan-2027', '15-Jan-2027'),
  ('B-1', 'N-7', 'RN', '28-Dec-2026', '10-Jan-2027'),
  ('B-1', 'F-2', 'Res', NULL, NULL),
  ('B-2', 'F-1', 'ATT', NULL, NULL);
INSERT INTO NW_EVAL VALUES
  ('EV-1', 'B-1', 'F-1', 'S-100', '2027-01-29 14:00:00', '8', 'N', 'Y');
