"""the parent's own Telegram messages that carried a request's text, for erasure

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-03 09:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0016'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'incoming_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('part', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('request_message_id', sa.Integer(), nullable=True),
        sa.Column('chat_id', sa.BigInteger(), nullable=False),
        sa.Column('message_id', sa.BigInteger(), nullable=False),
        sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['request_id'], ['request.id']),
        sa.ForeignKeyConstraint(['request_message_id'], ['request_message.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('incoming_message', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_incoming_message_request_id'), ['request_id'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('incoming_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incoming_message_request_id'))
    op.drop_table('incoming_message')
