"""API keys (admin): create, list, revoke."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Request

from forecast import keys
from serving.deps import AdminKey, EngineDep, bound_dataset
from serving.schemas import KeyCreated, KeyCreateRequest, KeyInfo

router = APIRouter(tags=["keys"])


@router.post(
    "/keys",
    summary="Create an API key (shown once), for any dataset or bound to one",
    status_code=201,
)
def create_key(
    body: KeyCreateRequest, request: Request, engine: EngineDep, admin: AdminKey
) -> KeyCreated:
    """An admin key bound to a dataset makes keys bound to it (none named: its own), so it
    cannot mint a key that reaches other datasets."""
    dataset = bound_dataset(admin.dataset, body.dataset, "create keys for")
    models = request.app.state.models
    with engine.begin() as conn:
        record, plain = keys.create_key(
            conn, body.role, body.name, dataset, known=[*models.leads, *models.deals]
        )
    return KeyCreated(**asdict(record), key=plain)


@router.get("/keys", summary="List API keys (never the keys themselves)")
def list_keys(engine: EngineDep, admin: AdminKey) -> list[KeyInfo]:
    """Every key; to an admin key bound to a dataset, the keys bound to it."""
    with engine.connect() as conn:
        return [KeyInfo(**row) for row in keys.list_keys(conn, within=admin.dataset)]


@router.delete(
    "/keys/{key_id}",
    summary="Revoke an API key",
    responses={
        200: {"description": "The key, revoked: now, or when it was first revoked"},
        404: {"description": "No key with that id"},
    },
)
def revoke_key(
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="Id from GET /v1/keys")],
    request: Request,
    engine: EngineDep,
    admin: AdminKey,
) -> KeyInfo:
    """Revoke a key: idempotent, as a DELETE is. Revoked again (a retry whose first answer was
    lost, two admins at once), the key is answered 200 as stored, with the time it was first
    revoked in `revoked_at` (a revocation time before the call says it was already revoked);
    nothing changes. A key id that does not exist (or, to an admin key bound to a dataset, a key
    of another) is a 404 naming it."""
    try:
        with engine.begin() as conn:  # an admin key bound to a dataset revokes its keys only
            record = keys.revoke_key(conn, key_id, within=admin.dataset)
    except keys.AlreadyRevoked as already:
        record = already.key
    finally:
        # The key stops working in this worker at once (revoked now or before: its remembered
        # check is dropped either way), in the server's other workers within key_cache_seconds.
        request.app.state.keys.forget(key_id)
        request.app.state.sessions.forget_key(key_id)
    return KeyInfo(**asdict(record))
