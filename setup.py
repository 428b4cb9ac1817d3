"""Puts the top-level sql/ into the built package as services/db/sql; the rest is in pyproject.toml.

The repository keeps its layout (services/, sql/, dags/ at the top), and an installed wheel still
carries its migrations (services/db/migrations.py finds them in either place).
"""
from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["services", "services.*"]), "services.db.sql"],
      package_dir={"services.db.sql": "sql"})
