-- Wait for every other writer of github.repositories to commit, and keep new ones waiting until this
-- load commits. Every statement writing the table takes this row's lock (the generation trigger in
-- schema.sql does, before any row of the table), and holds it to commit. Taken here, in a statement of
-- its own, before the merge: the merge's statements then start after every earlier writer committed,
-- so the update sees every stored repository and no other load can insert one before the insert.
-- Taken as the load's write generation (github.write_generation), which locks that row: the value the load's
-- statements stamp on the rows they change (their generation parameter).
SELECT github.write_generation();
