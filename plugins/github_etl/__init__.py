"""Harvest public GitHub repository metadata into a PostgreSQL warehouse with Apache Airflow."""

from __future__ import annotations

__version__ = "0.1.0"
