"""request.shared: whether the child's other guardians see a request

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 20:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing requests were visible to both guardians: they stay so.
    with op.batch_alter_table('request', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('shared', sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('request', schema=None) as batch_op:
        batch_op.drop_column('shared')
