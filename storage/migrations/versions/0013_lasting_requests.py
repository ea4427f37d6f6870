"""requests: what a request is about as named when asked (subject), when an approved
lasting request was lifted (lifted_at); the kinds objection and restriction

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 23:50:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_KINDS = ('CORRECTION', 'DELETION', 'QUESTION', 'ACCESS')
_NEW_KINDS = ('OBJECTION', 'RESTRICTION')


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    # PostgreSQL has a real enum type; SQLite stores the kind as text as long as the
    # longest name, which 'RESTRICTION' exceeds.
    if postgresql:
        for kind in _NEW_KINDS:
            op.execute(f"ALTER TYPE requestkind ADD VALUE IF NOT EXISTS '{kind}'")
    with op.batch_alter_table('request') as batch:
        batch.add_column(sa.Column('subject', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('lifted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        if not postgresql:
            batch.alter_column(
                'kind',
                existing_type=sa.Enum(*_KINDS, name='requestkind'),
                type_=sa.Enum(*_KINDS, *_NEW_KINDS, name='requestkind'),
                existing_nullable=False,
            )


def downgrade() -> None:
    # PostgreSQL cannot drop a value from an enum type; those requests must go first.
    op.execute("DELETE FROM request_message WHERE request_id IN (SELECT id FROM request WHERE kind IN ('OBJECTION', 'RESTRICTION'))")
    op.execute("DELETE FROM request WHERE kind IN ('OBJECTION', 'RESTRICTION')")
    with op.batch_alter_table('request') as batch:
        if op.get_bind().dialect.name != 'postgresql':
            batch.alter_column(
                'kind',
                existing_type=sa.Enum(*_KINDS, *_NEW_KINDS, name='requestkind'),
                type_=sa.Enum(*_KINDS, name='requestkind'),
                existing_nullable=False,
            )
        batch.drop_column('lifted_at')
        batch.drop_column('subject')
