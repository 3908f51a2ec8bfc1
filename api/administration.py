"""The administrator's side: unlock a user, read and change the run-time configuration (never
a secret). Enrolment tokens: api.la (administrators and LA data teams, own LA)."""

from __future__ import annotations

from fastapi import APIRouter

from access import Forbidden, Permission, admin
from api import configuration
from api.deps import Ctx, CurrentActor, UserId, record, refused, requires
from api.schemas import ConfigurationBody, ConfigurationChangeOut, ConfigurationOut, UnlockOut
from index.store import transaction

P = Permission
router = APIRouter(prefix="/admin", tags=["administrator"])



@router.post("/users/{user_id}/unlock", response_model=UnlockOut, dependencies=requires(P.UNLOCK))
def unlock(user_id: UserId, ctx: Ctx, who: CurrentActor) -> UnlockOut:
    """Lift a lockout before it ends (a registered user of the administrator's own LA)."""
    try:
        with transaction(ctx.engine) as db:
            cleared = admin.unlock(db, who.principal, user_id, now=ctx.clock())
    except Forbidden as exc:
        raise refused(ctx, who, P.UNLOCK, exc) from None
    return UnlockOut(user_id=user_id, cleared=cleared)


def _configuration(ctx: Ctx) -> ConfigurationOut:
    changed = {name: ConfigurationChangeOut(changed_at=o.changed_at, changed_by=o.changed_by)
               for name, o in ctx.configuration.overrides.items()}
    values = {name: getattr(ctx.access, name) for name in ConfigurationOut.model_fields if name != "changed"}
    return ConfigurationOut(changed=changed, **values)


@router.get("/configuration", response_model=ConfigurationOut, dependencies=requires(P.CONFIGURE))
def read_configuration(ctx: Ctx, who: CurrentActor) -> ConfigurationOut:
    with transaction(ctx.engine) as db:
        record(db, who, "configure", reason="administration", at=ctx.clock())
    return _configuration(ctx)


@router.patch("/configuration", response_model=ConfigurationOut, dependencies=requires(P.CONFIGURE))
def change_configuration(body: ConfigurationBody, ctx: Ctx, who: CurrentActor) -> ConfigurationOut:
    """Change lockout, session and unusual-use thresholds: kept in the store, over the
    environment's values, so every worker applies them (within configuration_refresh_seconds;
    this one at once) and a restart keeps them."""
    changes = body.model_dump(exclude_none=True)
    with transaction(ctx.engine) as db:  # what was set, so the trail tells a change from a read
        record(db, who, "configure", reason="administration", criteria=changes, at=ctx.clock())
        configuration.save(db, changes, by=who.user_id, at=ctx.clock())
    ctx.configuration.refresh(ctx.engine, force=True)
    return _configuration(ctx)
