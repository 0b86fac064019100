"""Shifts (``/api/shifts``, ``/api/users/{id}/shifts``) and tip pools (``/api/tips/pool``).

Planning needs ``staff.schedule`` (managers, owners); the published rota is readable by all
staff (``staff.timeclock``); planned-versus-worked hours and the tip pool need
``staff.timesheets``. See docs/staff.md.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from fynlo.auth.subject import CurrentSubject
from fynlo.authz.context import CurrentRestaurant
from fynlo.kit.idempotency import idempotent
from fynlo.kit.money import to_major
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, ok
from fynlo.kit.unit_of_work import SessionDep
from fynlo.staff.schemas import (
    CopyWeekIn,
    CopyWeekOut,
    DeletedShiftOut,
    PlannedWorkedOut,
    PlannedWorkedPersonOut,
    PlannedWorkedTotalsOut,
    PublishWeekIn,
    PublishWeekOut,
    ShiftBatchIn,
    ShiftOut,
    ShiftUpdate,
    SkippedShiftOut,
    TipDayOut,
    TipMemberOut,
    TipPersonOut,
    TipPoolOut,
    TipRuleOut,
)
from fynlo.staff.shifts import MAX_UPCOMING_DAYS, PlannedVsWorked, RotaShift, ShiftService
from fynlo.staff.timesheet import hours
from fynlo.staff.tips import TipPools, pool_report, totals_by_worker

shifts_router = router(prefix="/api/shifts", tags=["shifts"])
users_router = router(prefix="/api/users", tags=["shifts"])
tips_router = router(prefix="/api/tips", tags=["tips"])

FromDay = Annotated[date, Query(alias="from", description="First local day (YYYY-MM-DD)")]
ToDay = Annotated[date, Query(alias="to", description="Last local day, at most 62 days on")]


def shift_out(planned: RotaShift) -> ShiftOut:
    shift, user = planned.shift, planned.user
    return ShiftOut(
        id=shift.id,
        restaurant_id=shift.restaurant_id,
        user_id=shift.user_id,
        user_name=f"{user.first_name} {user.last_name}",
        role=shift.role,
        station=shift.station,
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        hours=hours(int((shift.ends_at - shift.starts_at).total_seconds())),
        notes=shift.notes,
        status="draft" if shift.published_at is None else "published",
        published_at=shift.published_at,
        created_by=shift.created_by,
        version=shift.version,
        created_at=shift.created_at,
        updated_at=shift.updated_at,
    )


def _planned_vs_worked_out(report: PlannedVsWorked) -> PlannedWorkedOut:
    people = []
    for person in report.people:
        planned, worked = hours(person.planned_seconds), person.worked_hours
        people.append(
            PlannedWorkedPersonOut(
                user_id=person.user.id,
                name=f"{person.user.first_name} {person.user.last_name}",
                role=person.user.role,
                shifts=person.shifts,
                planned_hours=planned,
                draft_hours=hours(person.draft_seconds),
                worked_hours=worked,
                difference_hours=worked - planned,
            )
        )
    planned_total = sum((p.planned_hours for p in people), hours(0))
    worked_total = sum((p.worked_hours for p in people), hours(0))
    return PlannedWorkedOut.model_validate(
        {
            "from": report.first,
            "to": report.last,
            "timezone": report.zone.key,
            "people": people,
            "totals": PlannedWorkedTotalsOut(
                planned_hours=planned_total,
                draft_hours=sum((p.draft_hours for p in people), hours(0)),
                worked_hours=worked_total,
                difference_hours=worked_total - planned_total,
            ),
        }
    )


def _tip_pool_out(pools: TipPools, currency: str) -> TipPoolOut:
    def money(minor: int) -> object:
        return to_major(minor, currency)

    days = [
        TipDayOut.model_validate(
            {
                "date": pool.day,
                "tips": money(pool.tips),
                "tender_tips": money(pool.tender_tips),
                "order_tips": money(pool.order_tips),
                "allocated": money(pool.allocated),
                "unallocated": money(pool.unallocated),
                "people": [
                    TipMemberOut(
                        user_id=m.worker.user_id,
                        name=m.worker.name,
                        role=m.worker.role,
                        hours=hours(m.seconds),
                        weight=m.weight,
                        share=to_major(m.share, currency),
                    )
                    for m in pool.members
                ],
            }
        )
        for pool in pools.days
    ]
    people = [
        TipPersonOut(
            user_id=worker.user_id,
            name=worker.name,
            role=worker.role,
            hours=hours(seconds),
            share=to_major(share, currency),
        )
        for worker, (seconds, share) in sorted(
            totals_by_worker(pools.days).items(),
            key=lambda item: (item[0].name.lower(), str(item[0].user_id)),
        )
    ]
    rule = pools.rule
    return TipPoolOut.model_validate(
        {
            "from": pools.first,
            "to": pools.last,
            "timezone": pools.zone.key,
            "currency": currency,
            "rule": TipRuleOut(
                enabled=rule.enabled,
                role_weights=rule.weights(),
                include_order_tips=rule.include_order_tips,
                business_day_starts_at=pools.day_starts_at.strftime("%H:%M"),
                problems=list(rule.problems),
            ),
            "days": days,
            "people": people,
            "tips": money(sum(p.tips for p in pools.days)),
            "allocated": money(sum(p.allocated for p in pools.days)),
            "unallocated": money(sum(p.unallocated for p in pools.days)),
        }
    )


@shifts_router.get(
    "",
    response_model=Envelope[list[ShiftOut]],
    summary="The rota: shifts starting between two local days",
    description="Planners (`staff.schedule`) see drafts and published shifts; other staff "
    "(`staff.timeclock`) see the published rota of everyone. `status=draft` needs "
    "`staff.schedule`.",
)
async def list_shifts(
    subject: CurrentSubject,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    first: FromDay,
    last: ToDay,
    user_id: Annotated[uuid.UUID | None, Query(alias="userId")] = None,
    status: Literal["draft", "published"] | None = None,
) -> Envelope[list[ShiftOut]]:
    shifts = await ShiftService(session, subject, restaurant).rota(first, last, user_id, status)
    return ok([shift_out(s) for s in shifts])


@shifts_router.post(
    "",
    status_code=201,
    response_model=Envelope[list[ShiftOut]],
    openapi_extra=idempotent(),
    summary="Plan shifts (drafts), one or a batch of up to 100, all or nothing",
    description='Needs `staff.schedule`. Body `{"shifts": [{userId, role?, station?, '
    "startsAt, endsAt, notes?}]}`. A shift overlapping another of the same person (planned "
    "or in the same batch) is a 409 `shift_overlap` naming it.",
)
async def create_shifts(
    body: ShiftBatchIn, subject: CurrentSubject, restaurant: CurrentRestaurant, session: SessionDep
) -> Envelope[list[ShiftOut]]:
    created = await ShiftService(session, subject, restaurant).create(body)
    return ok([shift_out(s) for s in created])


@shifts_router.get(
    "/planned-vs-worked",
    response_model=Envelope[PlannedWorkedOut],
    summary="Planned (published shifts) versus worked (time clock) hours per person",
    description="Needs `staff.timesheets`. Worked hours are the timesheet's own count.",
)
async def planned_vs_worked(
    subject: CurrentSubject,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    first: FromDay,
    last: ToDay,
    user_id: Annotated[uuid.UUID | None, Query(alias="userId")] = None,
) -> Envelope[PlannedWorkedOut]:
    service = ShiftService(session, subject, restaurant)
    return ok(_planned_vs_worked_out(await service.planned_vs_worked(first, last, user_id)))


@shifts_router.post(
    "/publish",
    response_model=Envelope[PublishWeekOut],
    summary="Publish a week's drafts (idempotent)",
    description="Needs `staff.schedule`. `weekStart` is a Monday; the week is Monday to Sunday "
    "in the restaurant's time zone. Sends one `notification` event when something was "
    "published; repeating the call publishes 0 and sends nothing.",
)
async def publish_week(
    body: PublishWeekIn, subject: CurrentSubject, restaurant: CurrentRestaurant, session: SessionDep
) -> Envelope[PublishWeekOut]:
    result = await ShiftService(session, subject, restaurant).publish(body.week_start)
    return ok(
        PublishWeekOut(
            week_start=result.week_start,
            published=result.published,
            already_published=result.already_published,
        )
    )


@shifts_router.post(
    "/copy-week",
    status_code=201,
    response_model=Envelope[CopyWeekOut],
    openapi_extra=idempotent(),
    summary="Copy a week's shifts into another week as drafts",
    description="Needs `staff.schedule`. Same local wall-clock times; people no longer active "
    "are skipped and listed. An overlap with a shift already in the target week is a 409 "
    "`shift_overlap` and nothing is copied.",
)
async def copy_week(
    body: CopyWeekIn, subject: CurrentSubject, restaurant: CurrentRestaurant, session: SessionDep
) -> Envelope[CopyWeekOut]:
    service = ShiftService(session, subject, restaurant)
    created, skipped = await service.copy_week(body.from_week, body.to_week)
    return ok(
        CopyWeekOut(
            created=[shift_out(s) for s in created],
            skipped=[
                SkippedShiftOut(shift_id=s.shift_id, user_id=s.user_id, reason=s.reason)
                for s in skipped
            ],
        )
    )


@shifts_router.put(
    "/{shift_id}",
    response_model=Envelope[ShiftOut],
    summary="Change a shift (the whole shift and the version you read)",
    description="Needs `staff.schedule`. Stale `version`: 409 `stale_version`. A published "
    "shift stays published; the change is audited and sends a `rota_changed` notification.",
)
async def update_shift(
    shift_id: uuid.UUID,
    body: ShiftUpdate,
    subject: CurrentSubject,
    restaurant: CurrentRestaurant,
    session: SessionDep,
) -> Envelope[ShiftOut]:
    return ok(shift_out(await ShiftService(session, subject, restaurant).update(shift_id, body)))


@shifts_router.delete(
    "/{shift_id}",
    response_model=Envelope[DeletedShiftOut],
    summary="Remove a shift",
    description="Needs `staff.schedule`. With `?version=`, a stale version is a 409. Removing "
    "a published shift sends a `rota_changed` notification.",
)
async def delete_shift(
    shift_id: uuid.UUID,
    subject: CurrentSubject,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Envelope[DeletedShiftOut]:
    deleted = await ShiftService(session, subject, restaurant).delete(shift_id, version)
    return ok(DeletedShiftOut(id=deleted))


@users_router.get(
    "/{user_id}/shifts",
    response_model=Envelope[list[ShiftOut]],
    summary="A person's upcoming published shifts",
    description="The person themselves (`staff.timeclock`), or `staff.schedule` / "
    "`staff.timesheets` for anyone of the restaurant. Shifts not yet over that start within "
    "`days` days (default 14, at most 62).",
)
async def upcoming_shifts(
    user_id: uuid.UUID,
    subject: CurrentSubject,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=MAX_UPCOMING_DAYS)] = 14,
) -> Envelope[list[ShiftOut]]:
    shifts = await ShiftService(session, subject, restaurant).upcoming(user_id, days)
    return ok([shift_out(s) for s in shifts])


@tips_router.get(
    "/pool",
    response_model=Envelope[TipPoolOut],
    summary="Tip pools per business day and each person's share",
    description="Needs `staff.timesheets`. The rule is the pos setting `tipPooling`; see "
    "docs/staff.md.",
)
async def tip_pool(
    subject: CurrentSubject,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    first: FromDay,
    last: ToDay,
) -> Envelope[TipPoolOut]:
    pools = await pool_report(session, subject, restaurant, first, last)
    return ok(_tip_pool_out(pools, restaurant.currency))


ROUTERS: list[APIRouter] = [shifts_router, users_router, tips_router]
