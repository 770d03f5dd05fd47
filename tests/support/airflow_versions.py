"""The installed Airflow's version, and the versions that brought features the provider uses when present."""

from __future__ import annotations

from importlib.metadata import version

from packaging.version import Version

AIRFLOW_VERSION = Version(Version(version("apache-airflow")).base_version)
# Airflow renders the declarative connection form fields (``conn-fields`` in the provider info) since 3.2.
CONN_FIELDS_SINCE = Version("3.2")
