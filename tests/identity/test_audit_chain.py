"""The audit chain written by :func:`fynlo.audit.service.record`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fynlo.audit.service import AuditActor, record, verify_chain
from fynlo.models import AuditChainHead, AuditLog
from tests.world import World


async def _head(session: AsyncSession, chain_key: str) -> tuple[int, str]:
    row = (
        await session.execute(
            select(AuditChainHead.seq, AuditChainHead.hash).where(
                AuditChainHead.chain_key == chain_key
            )
        )
    ).one()
    return int(row[0]), str(row[1])


async def test_rows_of_one_transaction_link_up_and_a_rollback_leaves_the_head(
    session: AsyncSession, world: World
) -> None:
    chain = str(world.a1.id)
    actor = AuditActor(user_id=world.users["manager"].id)
    start_seq = (
        await session.scalar(select(AuditChainHead.seq).where(AuditChainHead.chain_key == chain))
    ) or 0

    written = [
        await record(
            session, actor, action=f"test.{n}", resource_type="test", restaurant_id=world.a1.id
        )
        for n in range(3)
    ]
    await session.commit()

    assert [r.seq for r in written] == [start_seq + 1, start_seq + 2, start_seq + 3]
    assert [r.prev_hash for r in written[1:]] == [r.hash for r in written[:-1]]
    last = (written[-1].seq, written[-1].hash)
    assert await _head(session, chain) == last
    assert (await verify_chain(session, chain)).ok

    await record(
        session, actor, action="test.rolled_back", resource_type="test", restaurant_id=world.a1.id
    )
    await session.rollback()

    assert await _head(session, chain) == last
    assert (
        await session.scalar(select(AuditLog.id).where(AuditLog.action == "test.rolled_back"))
        is None
    )
    assert (await verify_chain(session, chain)).ok
