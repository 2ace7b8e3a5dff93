"""Storage: SQLAlchemy tables, Alembic migrations, repositories, the run event log."""
