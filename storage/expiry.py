"""The pending deletions of messages that show a child's personal data (bot.expiry
deletes them from the chat): a row written in the transaction of the handler that
showed the data, so a restart of the bot does not forget it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import BigInteger, bindparam, exists
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import upsert
from storage.models import MessageExpiry
from storage.prepared import Prepared, per_database, with_marker


def schedule(session: AsyncSession, chat_id: int, message_id: int, delete_at: datetime) -> None:
    """Deletes the message at delete_at; in the caller's transaction, which commits it.
    Scheduling a message again (it was edited to show data again) moves the time."""
    if delete_at.tzinfo is None:
        raise ValueError("delete_at must be an aware datetime")
    # Nothing in the update reads it back: it goes with the update's marker.
    with_marker(
        session,
        deletion_write(session.get_bind().dialect.name),
        {"chat": chat_id, "message": message_id, "at": delete_at},
        key=(chat_id, message_id),
    )


@per_database
def deletion_write(dialect: str) -> Prepared:
    """One statement whether or not the message was scheduled before (SQLite and
    PostgreSQL both know ON CONFLICT), built once per database."""
    insert = upsert(dialect)
    table = MessageExpiry.__table__  # type: ignore[attr-defined]
    at = bindparam("at", type_=table.c.delete_at.type)
    # On the table, not the model: the ORM's bulk insert would cost more than the upsert.
    statement = insert(table).values(
        chat_id=bindparam("chat", type_=BigInteger),
        message_id=bindparam("message", type_=BigInteger),
        delete_at=at,
        done_at=None,
        attempts=0,
    )
    return Prepared(
        statement.on_conflict_do_update(
            index_elements=["chat_id", "message_id"],
            # The values of the row as inserted (excluded), not bound again: so SQLite can
            # write it with the update's other writes in one statement (storage.prepared).
            set_={
                name: getattr(statement.excluded, name)
                for name in ("delete_at", "done_at", "attempts")
            },
        )
    )


# Whether a message is a pending data message: a column of the read every update starts
# with (bot.middlewares), bound to :shown_chat and :shown_message.
PENDING = exists().where(
    col(MessageExpiry.chat_id) == bindparam("shown_chat", type_=BigInteger),
    col(MessageExpiry.message_id) == bindparam("shown_message", type_=BigInteger),
    col(MessageExpiry.done_at).is_(None),
)


async def due(session: AsyncSession, now: datetime, limit: int) -> Sequence[MessageExpiry]:
    """The pending deletions due at `now`, the longest due first: rows the deleter
    updates with what Telegram answered and commits."""
    rows = await session.exec(
        select(MessageExpiry)
        .where(col(MessageExpiry.done_at).is_(None), MessageExpiry.delete_at <= now)
        .order_by(col(MessageExpiry.delete_at), col(MessageExpiry.id))
        .limit(limit)
    )
    return rows.all()
