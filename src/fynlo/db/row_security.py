"""PostgreSQL row-level security: the second wall behind the application's tenant scope.

The application already limits every query through :class:`fynlo.authz.scope.TenantScope`.
On PostgreSQL, once a request knows its caller, its transaction also switches to the
non-superuser role :data:`APP_ROLE` and records the caller's scope in the
``fynlo.tenant_scope`` setting (both ``SET LOCAL``: they end with the transaction). Policies
on every tenant table then hide and refuse rows of other restaurants, so a query that forgets
the application filter still returns nothing of another tenant.

Scope encoding in ``fynlo.tenant_scope``:
``p:<platform id>`` every restaurant of one platform; ``<id>,<id>,...`` those restaurants;
``-`` (or unset) nothing. Transactions that never switch role (sign-in, jobs, the CLI) run
as the connecting role, which owns the tables and is not subject to the policies.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.authz.scope import TenantScope

APP_ROLE = "fynlo_app"
SCOPE_SETTING = "fynlo.tenant_scope"
NO_RESTAURANT = "-"

TENANT_FUNCTION = f"""
CREATE OR REPLACE FUNCTION fynlo_tenant_ok(rid uuid, pid uuid DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    scope text := coalesce(current_setting('{SCOPE_SETTING}', true), '');
BEGIN
    IF rid IS NULL OR scope = '' OR scope = '{NO_RESTAURANT}' THEN
        RETURN false;
    END IF;
    IF left(scope, 2) = 'p:' THEN
        IF pid IS NOT NULL THEN
            RETURN pid = substr(scope, 3)::uuid;
        END IF;
        RETURN EXISTS (
            SELECT 1 FROM restaurants r WHERE r.id = rid AND r.platform_id = substr(scope, 3)::uuid
        );
    END IF;
    RETURN rid::text = ANY (string_to_array(scope, ','));
END
$$
"""  # noqa: S608 - module constants, no input

CREATE_APP_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;  -- created by a concurrent migration
END
$$
"""  # noqa: S608 - module constants, no input


@dataclass(frozen=True)
class TenantTable:
    """A table under a tenant policy.

    ``shared_rows`` lets rows with no restaurant (an owner's user row, a platform audit
    entry) through: they belong to no tenant, and the application decides who sees them.
    """

    name: str
    column: str = "restaurant_id"
    platform_column: str | None = None
    shared_rows: bool = False

    @property
    def condition(self) -> str:
        platform = f", {self.platform_column}" if self.platform_column else ""
        check = f"fynlo_tenant_ok({self.column}{platform})"
        return f"({self.column} IS NULL OR {check})" if self.shared_rows else check


def grant_app_role_statements() -> list[str]:
    """Privileges for :data:`APP_ROLE` on today's tables and, by default, tomorrow's."""
    return [
        CREATE_APP_ROLE,
        f"GRANT {APP_ROLE} TO CURRENT_USER",
        f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}",
    ]


def enable_statements(table: TenantTable) -> list[str]:
    return [
        f"ALTER TABLE {table.name} ENABLE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS tenant_isolation ON {table.name}",
        f"CREATE POLICY tenant_isolation ON {table.name} "
        f"USING ({table.condition}) WITH CHECK ({table.condition})",
    ]


def disable_statements(table: TenantTable) -> list[str]:
    return [
        f"DROP POLICY IF EXISTS tenant_isolation ON {table.name}",
        f"ALTER TABLE {table.name} DISABLE ROW LEVEL SECURITY",
    ]


def scope_value(scope: TenantScope) -> str:
    if scope.platform_id is not None:
        return f"p:{scope.platform_id}"
    return ",".join(sorted(str(i) for i in scope.restaurant_ids)) or NO_RESTAURANT


_SET_SCOPE = text("SELECT set_config('role', :role, true), set_config(:setting, :scope, true)")


async def apply_tenant_scope(session: AsyncSession, scope: TenantScope) -> None:
    """Put the rest of this transaction under the tenant policies (PostgreSQL only)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(
        _SET_SCOPE, {"role": APP_ROLE, "setting": SCOPE_SETTING, "scope": scope_value(scope)}
    )
