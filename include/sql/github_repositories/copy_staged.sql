-- One staged row file, in COPY text format, columns in github_etl.columns.REPOSITORY_COLUMNS order.
COPY staged_repositories ({columns}) FROM STDIN;
