"""PostgreSQL adapter: connections (SQLAlchemy Core over psycopg2), migrations, bulk writes."""
