"""decisions that take effect: what an objection is against (request.target), what a
checklist item asks (parnassys_task.action), consent refused after an upheld objection

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 00:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SOURCES = ('IMPORT', 'BOT', 'DELETION')


def upgrade() -> None:
    # PostgreSQL has a real enum type; SQLite stores it as a VARCHAR as long as the
    # longest value, which 'OBJECTION' outgrows.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TYPE consentsource ADD VALUE IF NOT EXISTS 'OBJECTION'")
    else:
        with op.batch_alter_table('consent_event', schema=None) as batch_op:
            batch_op.alter_column(
                'source',
                existing_type=sa.Enum(*_SOURCES, name='consentsource'),
                type_=sa.Enum(*_SOURCES, 'OBJECTION', name='consentsource'),
                existing_nullable=False,
            )
    with op.batch_alter_table('request') as batch:
        batch.add_column(sa.Column('target', sa.String(length=64), nullable=True))
    with op.batch_alter_table('parnassys_task') as batch:
        batch.add_column(
            sa.Column('action', sa.String(length=16), server_default='delete', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('parnassys_task') as batch:
        batch.drop_column('action')
    with op.batch_alter_table('request') as batch:
        batch.drop_column('target')
    op.execute("DELETE FROM consent_event WHERE source = 'OBJECTION'")
    if op.get_bind().dialect.name != 'postgresql':
        with op.batch_alter_table('consent_event', schema=None) as batch_op:
            batch_op.alter_column(
                'source',
                existing_type=sa.Enum(*_SOURCES, 'OBJECTION', name='consentsource'),
                type_=sa.Enum(*_SOURCES, name='consentsource'),
                existing_nullable=False,
            )
