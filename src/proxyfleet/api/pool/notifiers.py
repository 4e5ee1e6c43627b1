"""Notifier endpoints of the pool API (admins only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Response

from proxyfleet.api.auth import Admin, container
from proxyfleet.api.pool.envelope import errors, pool_router
from proxyfleet.api.pool.notifier_schemas import (
    NotifierIn,
    NotifierList,
    NotifierOut,
    NotifierPatch,
    NotifierTestOut,
)
from proxyfleet.bootstrap import Container

router = pool_router(tags=["notifiers"], responses=errors(401, 403, 404, 422, 502))
Services = Annotated[Container, Depends(container)]


@router.get("/notifiers", response_model=NotifierList)
async def list_notifiers(_: Admin, found: Services) -> NotifierList:
    records = await found.notifiers.all()
    return NotifierList(items=[NotifierOut.of(r) for r in records], total_count=len(records))


@router.post("/notifiers", status_code=201, response_model=NotifierOut)
async def add_notifier(body: NotifierIn, _: Admin, found: Services) -> NotifierOut:
    record = await found.notifiers.create(body.name, body.plugin_settings(), body.subscribes_to,
                                          body.enabled)
    return NotifierOut.of(record)


@router.get("/notifiers/{notifier_id}", response_model=NotifierOut)
async def get_notifier(notifier_id: uuid.UUID, _: Admin, found: Services) -> NotifierOut:
    return NotifierOut.of(await found.notifiers.get(notifier_id))


@router.patch("/notifiers/{notifier_id}", response_model=NotifierOut)
async def change_notifier(notifier_id: uuid.UUID, body: NotifierPatch, _: Admin,
                          found: Services) -> NotifierOut:
    record = await found.notifiers.change(notifier_id, body.plugin_settings(),
                                          body.subscribes_to, body.enabled)
    return NotifierOut.of(record)


@router.delete("/notifiers/{notifier_id}", status_code=204)
async def delete_notifier(notifier_id: uuid.UUID, _: Admin, found: Services) -> Response:
    await found.notifiers.delete(notifier_id)
    return Response(status_code=204)


@router.post("/notifiers/{notifier_id}/test", response_model=NotifierTestOut)
async def send_test_message(notifier_id: uuid.UUID, _: Admin, found: Services) -> NotifierTestOut:
    event = await found.notifiers.test(notifier_id)
    return NotifierTestOut(notifier_id=notifier_id, event=event.name.value, event_id=event.id,
                           delivered=True)
