"""Provenance: every bar's source and write time; replayed bars in a table of their own.

Revision ID: 0002_provenance
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_provenance"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def _bar_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("interval", sa.String(8), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("open", sa.Float, nullable=False),
        sa.Column("high", sa.Float, nullable=False),
        sa.Column("low", sa.Float, nullable=False),
        sa.Column("close", sa.Float, nullable=False),
        sa.Column("volume", sa.Float, nullable=False),
        sa.Column("source", sa.String(255), nullable=False, server_default="unknown"),
        sa.Column("received_at", sa.BigInteger),
    ]


def upgrade() -> None:
    op.add_column("bars", sa.Column("source", sa.String(255), nullable=False, server_default="unknown"))
    op.add_column("bars", sa.Column("received_at", sa.BigInteger))
    op.create_table(
        "replayed_bars",
        *_bar_columns(),
        sa.PrimaryKeyConstraint("symbol", "interval", "ts", name="pk_replayed_bars"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("replayed_bars")
    with op.batch_alter_table("bars") as batch:
        batch.drop_column("received_at")
        batch.drop_column("source")
