"""row-level security on tenant tables (PostgreSQL)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

from alembic import op

from fynlo.db.row_security import (
    TENANT_FUNCTION,
    TenantTable,
    disable_statements,
    enable_statements,
    grant_app_role_statements,
)

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = [
    TenantTable("restaurants", column="id", platform_column="platform_id"),
    TenantTable("restaurant_settings"),
    TenantTable("pos_devices"),
    TenantTable("users", shared_rows=True),
    TenantTable("audit_logs", shared_rows=True),
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in grant_app_role_statements():
        op.execute(statement)
    op.execute(TENANT_FUNCTION)
    for table in TABLES:
        for statement in enable_statements(table):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        for statement in disable_statements(table):
            op.execute(statement)
    op.execute("DROP FUNCTION IF EXISTS fynlo_tenant_ok(uuid, uuid)")
