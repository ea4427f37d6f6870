"""Logging for the bot's processes. Nothing the bot logs may carry a pupil's name, a
birth date, typed text or a stored value: the database drivers write every statement
with its bound values at DEBUG (aiosqlite, asyncpg, SQLAlchemy's echo), so their loggers
stay at WARNING whatever level the rest of the log runs at, and every engine is made
with hide_parameters=True (storage/db.py) so a failing statement's error text carries
the SQL but not its values."""

from __future__ import annotations

import logging

# The loggers that write statements or their parameters when set to INFO or DEBUG.
DATABASE_LOGGERS = ("aiosqlite", "asyncpg", "sqlalchemy.engine", "sqlalchemy.pool")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def quiet_database_drivers() -> None:
    for name in DATABASE_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging(level: int = logging.INFO, fmt: str = FORMAT) -> None:
    logging.basicConfig(level=level, format=fmt)
    quiet_database_drivers()
