"""Column blocks of the bars, one per symbol, interval and UTC day, kept stale-proof by triggers.

Every insert, update or delete of a bar bumps its day's block version and clears the block's
data, in the writing transaction: a block is read only while it still matches its rows. Blocks
of the bars already stored are created stale; ``marketsession data reindex`` builds them.

Revision ID: 0003_bar_blocks
Revises: 0002_provenance
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_bar_blocks"
down_revision = "0002_provenance"
branch_labels = None
depends_on = None

_BUMP = (
    "INSERT INTO bar_blocks (symbol, interval, utc_day, version) VALUES ({row}.symbol, {row}.interval, "
    "{row}.ts / 86400, 1) ON CONFLICT (symbol, interval, utc_day) DO UPDATE SET "
    "version = bar_blocks.version + 1, count = NULL, data = NULL"
)

_SQLITE_TRIGGERS = {
    "bar_blocks_on_insert": ("AFTER INSERT", ("NEW",)),
    "bar_blocks_on_update": ("AFTER UPDATE", ("OLD", "NEW")),
    "bar_blocks_on_delete": ("AFTER DELETE", ("OLD",)),
}

_POSTGRES_FUNCTION = f"""
CREATE FUNCTION bar_blocks_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        {_BUMP.format(row="OLD")};
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        {_BUMP.format(row="NEW")};
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "bar_blocks",
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("interval", sa.String(8), nullable=False),
        sa.Column("utc_day", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("count", sa.Integer),
        sa.Column("data", sa.LargeBinary),
        sa.PrimaryKeyConstraint("symbol", "interval", "utc_day", name="pk_bar_blocks"),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO bar_blocks (symbol, interval, utc_day, version) "
        "SELECT DISTINCT symbol, interval, ts / 86400, 1 FROM bars"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        op.execute(
            "CREATE TRIGGER bar_blocks_stale AFTER INSERT OR UPDATE OR DELETE ON bars "
            "FOR EACH ROW EXECUTE FUNCTION bar_blocks_stale()"
        )
        return
    for name, (when, rows) in _SQLITE_TRIGGERS.items():
        body = " ".join(f"{_BUMP.format(row=row)};" for row in rows)
        op.execute(f"CREATE TRIGGER {name} {when} ON bars BEGIN {body} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER bar_blocks_stale ON bars")
        op.execute("DROP FUNCTION bar_blocks_stale()")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("bar_blocks")
