"""Column blocks of the quotes, one per symbol and UTC day, kept stale-proof by triggers (as the
bars' blocks: every insert, update or delete of a quote row bumps its day's block version and
clears its data in the writing transaction). Blocks of the quotes already stored are created
stale; ``marketsession data reindex`` builds them.

Revision ID: 0006_quote_blocks
Revises: 0005_replayed_quotes
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_quote_blocks"
down_revision = "0005_replayed_quotes"
branch_labels = None
depends_on = None

_BUMP = (
    "INSERT INTO quote_blocks (symbol, utc_day, version) VALUES ({row}.symbol, {row}.ts / 86400, 1) "
    "ON CONFLICT (symbol, utc_day) DO UPDATE SET "
    "version = quote_blocks.version + 1, count = NULL, data = NULL"
)

_SQLITE_TRIGGERS = {
    "quote_blocks_on_insert": ("AFTER INSERT", ("NEW",)),
    "quote_blocks_on_update": ("AFTER UPDATE", ("OLD", "NEW")),
    "quote_blocks_on_delete": ("AFTER DELETE", ("OLD",)),
}

_POSTGRES_FUNCTION = f"""
CREATE FUNCTION quote_blocks_stale() RETURNS trigger LANGUAGE plpgsql AS $$
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
        "quote_blocks",
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("utc_day", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("count", sa.Integer),
        sa.Column("data", sa.LargeBinary),
        sa.PrimaryKeyConstraint("symbol", "utc_day", name="pk_quote_blocks"),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO quote_blocks (symbol, utc_day, version) "
        "SELECT DISTINCT symbol, ts / 86400, 1 FROM quotes"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        op.execute(
            "CREATE TRIGGER quote_blocks_stale AFTER INSERT OR UPDATE OR DELETE ON quotes "
            "FOR EACH ROW EXECUTE FUNCTION quote_blocks_stale()"
        )
        return
    for name, (when, rows) in _SQLITE_TRIGGERS.items():
        body = " ".join(f"{_BUMP.format(row=row)};" for row in rows)
        op.execute(f"CREATE TRIGGER {name} {when} ON quotes BEGIN {body} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER quote_blocks_stale ON quotes")
        op.execute("DROP FUNCTION quote_blocks_stale()")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("quote_blocks")
