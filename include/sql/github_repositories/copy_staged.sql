-- One staged file in COPY text format into {table}, columns as listed (see github_etl.columns).
COPY {table} ({columns}) FROM STDIN;
