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


# aiogram's line for every update handled ("Update id=… is handled. Duration …"): on the
# evening the letters go home, thousands of lines that say nothing an operator acts on,
# and a formatted record per update. A failed update is still logged (aiogram.event at
# ERROR, and the bot's own failures).
PER_UPDATE_LOGGERS = ("aiogram.event",)


def configure_logging(level: int = logging.INFO, fmt: str = FORMAT) -> None:
    logging.basicConfig(level=level, format=fmt)
    quiet_database_drivers()
    if level >= logging.INFO:
        for name in PER_UPDATE_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
