"""PostgreSQL adapter: connections (SQLAlchemy Core over psycopg2), migrations, bulk writes, and the
SQL more than one service runs (`queries`)."""
