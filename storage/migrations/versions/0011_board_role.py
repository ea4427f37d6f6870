"""staff role 'board': a member of the school board, who sees figures only

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 21:00:00.000000
"""
from collections.abc import Sequence

from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite stores the enum as text without a check; PostgreSQL has a real type.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TYPE staffrole ADD VALUE IF NOT EXISTS 'BOARD'")


def downgrade() -> None:
    # PostgreSQL cannot drop a value from an enum type; board rows must go first.
    op.execute("DELETE FROM chat_link WHERE staff_id IN (SELECT id FROM staff WHERE role = 'BOARD')")
    op.execute("DELETE FROM invite_code WHERE staff_id IN (SELECT id FROM staff WHERE role = 'BOARD')")
    op.execute("DELETE FROM staff WHERE role = 'BOARD'")
