"""Initial schema: market hours, calendar coverage, trading holidays, bars.

Revision ID: 0001_initial
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "market_hours",
        sa.Column("exchange_group", sa.String(32), nullable=False),
        sa.Column("asset_class", sa.String(32), nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("exchanges", sa.String(255), nullable=False),
        sa.Column("regular_open", sa.Time, nullable=False),
        sa.Column("regular_close", sa.Time, nullable=False),
        sa.Column("pre_market_open", sa.Time),
        sa.Column("pre_market_close", sa.Time),
        sa.Column("post_market_open", sa.Time),
        sa.Column("post_market_close", sa.Time),
        sa.Column("break_start", sa.Time),
        sa.Column("break_end", sa.Time),
        sa.Column("trading_weekdays", sa.String(16), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("exchange_group", "asset_class", "valid_from", name="pk_market_hours"),
    )
    op.create_table(
        "calendar_coverage",
        sa.Column("exchange_group", sa.String(32), primary_key=True),
        sa.Column("first_date", sa.Date, nullable=False),
        sa.Column("last_date", sa.Date, nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "trading_holidays",
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("exchange_group", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("is_closed", sa.Boolean, nullable=False),
        sa.Column("early_close_time", sa.Time),
        sa.Column("late_open_time", sa.Time),
        sa.Column("notes", sa.Text),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("date", "exchange_group", name="uq_trading_holidays_date_group"),
        sa.PrimaryKeyConstraint("exchange_group", "date", name="pk_trading_holidays"),
    )
    op.create_table(
        "bars",
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("interval", sa.String(8), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("open", sa.Float, nullable=False),
        sa.Column("high", sa.Float, nullable=False),
        sa.Column("low", sa.Float, nullable=False),
        sa.Column("close", sa.Float, nullable=False),
        sa.Column("volume", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("symbol", "interval", "ts", name="pk_bars"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("bars")
    op.drop_table("trading_holidays")
    op.drop_table("calendar_coverage")
    op.drop_table("market_hours")
