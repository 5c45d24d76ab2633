-- Loads of the same snapshot date run one after another, from here to their commit: a load deciding
-- that no snapshot of its date exists yet (snapshot_date_taken.sql) can then rely on it until it
-- commits. Loads of different dates do not wait for each other. Transaction-scoped: released at
-- commit or rollback. The first key names this lock, the second is the date.
-- Parameters: lock_class, day (the snapshot date as a day number).
SELECT pg_advisory_xact_lock(%(lock_class)s, %(day)s);
