"""erased fields per pupil, the director's ParnasSys checklist, consent source 'deletion'

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # PostgreSQL has a real enum type; SQLite stores it as a VARCHAR as long as the
    # longest value, which 'DELETION' outgrows.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TYPE consentsource ADD VALUE IF NOT EXISTS 'DELETION'")
    else:
        with op.batch_alter_table('consent_event', schema=None) as batch_op:
            batch_op.alter_column(
                'source',
                existing_type=sa.Enum('IMPORT', 'BOT', name='consentsource'),
                type_=sa.Enum('IMPORT', 'BOT', 'DELETION', name='consentsource'),
                existing_nullable=False,
            )
    op.create_table(
        'erased_field',
        sa.Column('pupil_id', sa.Integer(), nullable=False),
        sa.Column('field', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('erased_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['pupil_id'], ['pupil.id']),
        sa.PrimaryKeyConstraint('pupil_id', 'field'),
    )
    op.create_table(
        'parnassys_task',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('pupil_id', sa.Integer(), nullable=False),
        sa.Column('what', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('due_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('done_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('done_by', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['done_by'], ['staff.id']),
        sa.ForeignKeyConstraint(['pupil_id'], ['pupil.id']),
        sa.ForeignKeyConstraint(['request_id'], ['request.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('parnassys_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_parnassys_task_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_parnassys_task_pupil_id'), ['pupil_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_parnassys_task_request_id'), ['request_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('parnassys_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_parnassys_task_request_id'))
        batch_op.drop_index(batch_op.f('ix_parnassys_task_pupil_id'))
        batch_op.drop_index(batch_op.f('ix_parnassys_task_due_at'))
    op.drop_table('parnassys_task')
    op.drop_table('erased_field')
    # PostgreSQL cannot drop a value from an enum type; rows using it become 'BOT'.
    op.execute("UPDATE consent_event SET source = 'BOT' WHERE source = 'DELETION'")
    if op.get_bind().dialect.name != 'postgresql':
        with op.batch_alter_table('consent_event', schema=None) as batch_op:
            batch_op.alter_column(
                'source',
                existing_type=sa.Enum('IMPORT', 'BOT', 'DELETION', name='consentsource'),
                type_=sa.Enum('IMPORT', 'BOT', name='consentsource'),
                existing_nullable=False,
            )
