"""Writing and verifying the audit chain.

Each row carries the hash of the previous row of its chain (its restaurant's, or the
platform's) and a hash over its own content. Editing or deleting a row breaks the chain
at that point, which ``fynlo audit verify`` reports.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.db.base import table_of
from fynlo.db.types import utc_now
from fynlo.db.upsert import conflict_insert_for
from fynlo.models import AuditChainHead, AuditLog

GENESIS = "0" * 64
PLATFORM_CHAIN = "platform"


@dataclass(frozen=True)
class AuditActor:
    """Who acts, and from where: attached to every row written for a request."""

    user_id: uuid.UUID | None = None
    ip_address: str | None = None
    user_agent: str | None = None


def _row_hash(row: AuditLog) -> str:
    content = {
        "chain": row.chain_key,
        "seq": row.seq,
        "prev": row.prev_hash,
        "restaurant": str(row.restaurant_id) if row.restaurant_id else None,
        "user": str(row.user_id) if row.user_id else None,
        "action": row.action,
        "resourceType": row.resource_type,
        "resourceId": row.resource_id,
        "old": row.old_values,
        "new": row.new_values,
        "ip": row.ip_address,
        "ua": row.user_agent,
        "at": row.created_at.isoformat(timespec="microseconds"),
    }
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _jsonable(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    loaded: dict[str, Any] = json.loads(json.dumps(values, default=str))
    return loaded


# Core statements (every audited write runs both), see table_of.
_HEADS = table_of(AuditChainHead)
_LOCKED_HEAD = (
    select(_HEADS.c.seq, _HEADS.c.hash)
    .where(_HEADS.c.chain_key == bindparam("chain_key"))
    .with_for_update()
)
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.chain_key == bindparam("head_key"))
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


async def _locked_head(session: AsyncSession, chain_key: str) -> tuple[int, str]:
    """The chain's last ``(seq, hash)``, its head row locked until commit; a chain's first
    row creates the head. Plain statements, not ORM objects: every audited write runs this."""
    params = {"chain_key": chain_key}
    head = (await session.execute(_LOCKED_HEAD, params)).first()
    if head is None:
        insert = conflict_insert_for(session)
        await session.execute(
            insert(_HEADS)
            .values(chain_key=chain_key, seq=0, hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["chain_key"])
        )
        head = (await session.execute(_LOCKED_HEAD, params)).one()
    return int(head[0]), str(head[1])


async def record(
    session: AsyncSession,
    actor: AuditActor,
    *,
    action: str,
    resource_type: str,
    resource_id: object | None = None,
    restaurant_id: uuid.UUID | None = None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
) -> AuditLog:
    """Append one row in the caller's transaction (so it commits or rolls back with it)."""
    chain_key = str(restaurant_id) if restaurant_id else PLATFORM_CHAIN
    last_seq, last_hash = await _locked_head(session, chain_key)
    row = AuditLog(
        id=uuid.uuid4(),
        restaurant_id=restaurant_id,
        user_id=actor.user_id,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id) if resource_id is not None else None,
        old_values=_jsonable(old),
        new_values=_jsonable(new),
        ip_address=actor.ip_address,
        user_agent=(actor.user_agent or "")[:500] or None,
        created_at=utc_now(),
        chain_key=chain_key,
        seq=last_seq + 1,
        prev_hash=last_hash,
    )
    row.hash = _row_hash(row)
    # The head moves now (it stays locked until commit); the row is flushed with the rest
    # of the request's changes, after the rows it refers to.
    await session.execute(
        _MOVE_HEAD, {"head_key": chain_key, "new_seq": row.seq, "new_hash": row.hash}
    )
    session.add(row)
    return row


@dataclass(frozen=True)
class ChainReport:
    chain_key: str
    rows: int
    broken_at_seq: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at_seq is None


async def verify_chain(session: AsyncSession, chain_key: str) -> ChainReport:
    expected_prev, expected_seq, count = GENESIS, 1, 0
    rows = await session.stream_scalars(
        select(AuditLog).where(AuditLog.chain_key == chain_key).order_by(AuditLog.seq)
    )
    async for row in rows:
        count += 1
        if row.seq != expected_seq:
            return ChainReport(chain_key, count, expected_seq, f"row {expected_seq} is missing")
        if row.prev_hash != expected_prev:
            return ChainReport(chain_key, count, row.seq, "previous-hash link does not match")
        if _row_hash(row) != row.hash:
            return ChainReport(chain_key, count, row.seq, "row content was altered")
        expected_prev, expected_seq = row.hash, expected_seq + 1
    head = await session.get(AuditChainHead, chain_key)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != expected_prev):
        return ChainReport(chain_key, count, expected_seq, "rows after this one were removed")
    return ChainReport(chain_key, count)


async def verify_all(session: AsyncSession) -> list[ChainReport]:
    keys = set(await session.scalars(select(AuditChainHead.chain_key)))
    keys |= set(await session.scalars(select(AuditLog.chain_key).distinct()))
    return [await verify_chain(session, key) for key in sorted(keys)]
