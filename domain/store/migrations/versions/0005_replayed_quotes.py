"""Replayed quotes: what the replay provider streamed as a live feed, apart from real quotes.

Revision ID: 0005_replayed_quotes
Revises: 0004_quotes
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_replayed_quotes"
down_revision = "0004_quotes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replayed_quotes",
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("event_us", sa.BigInteger, nullable=False),
        sa.Column("bid_price", sa.Float),
        sa.Column("bid_size", sa.Float, nullable=False),
        sa.Column("ask_price", sa.Float),
        sa.Column("ask_size", sa.Float, nullable=False),
        sa.Column("bid_venue", sa.String(16)),
        sa.Column("ask_venue", sa.String(16)),
        sa.Column("conditions", sa.String(64)),
        sa.Column("received_us", sa.BigInteger),
        sa.Column("source", sa.String(255), nullable=False, server_default="unknown"),
        sa.PrimaryKeyConstraint("symbol", "ts", name="pk_replayed_quotes"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("replayed_quotes")
