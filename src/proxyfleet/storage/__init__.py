"""Storage: engines, tables, the unit of work, repositories, migrations.

The only package that imports SQLAlchemy or Alembic. It imports `core` and nothing above it.
"""
