"""guardian e-mail no longer unique (import --no-email-match)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 19:50:00
"""
from collections.abc import Sequence

from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('guardian', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guardian_email'))
        batch_op.create_index(batch_op.f('ix_guardian_email'), ['email'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('guardian', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guardian_email'))
        batch_op.create_index(batch_op.f('ix_guardian_email'), ['email'], unique=True)
