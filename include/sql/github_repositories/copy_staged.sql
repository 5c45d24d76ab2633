-- One staged file in COPY text format into {table}, columns as listed (see github_etl.columns).
-- {options}: empty, or FREEZE for the initial bulk load (see github_etl.load.bulk.bulk_load).
COPY {table} ({columns}) FROM STDIN {options};
