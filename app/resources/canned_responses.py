"""``/v1/canned-responses``: each team's stock replies, with variables.

Every save is a new version (its ``ETag``); a reply made from one
(``POST /v1/conversations/{id}/replies`` with ``canned_response_id``) carries the text
as rendered then. Supervisors write; every role that reads may read.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from app.apidoc import Blueprint, links
from app.auth import current_principal, requires
from app.schemas import canned as s
from app.state import application
from app.writes import execute, expected_version
from domain.access import MANAGE_CARE, READ
from domain.canned import CannedResponse, template_variables
from domain.idempotency import Claim
from domain.outcome import Outcome

blp = Blueprint(
    "canned responses",
    __name__,
    url_prefix="/v1/canned-responses",
    description="Canned responses: each team's stock replies, with variables.",
)

CANNED_LINKS = links(
    "id", "canned_response_id", "getCannedResponse", "reviseCannedResponse",
    "deleteCannedResponse",
)  # fmt: skip
READ_ONE = (401, 403, 404, 503)
DELETE_PROBLEMS = (401, 403, 404, 409, 412, 422, 503)  # no body: never 413 or 415


def canned_view(canned: CannedResponse, version: int | None = None) -> dict[str, Any]:
    """Version ``version`` of the canned response (its latest if None)."""
    entry = canned.versions[(version or len(canned.versions)) - 1]
    first = canned.versions[0]
    return {
        "id": canned.id, "version": entry["version"], **entry["spec"],
        "variables": template_variables(entry["spec"]["body"]), "deleted": entry["deleted"],
        "created_at": first["at"], "created_by": first["by"], "updated_at": entry["at"],
        "updated_by": entry["by"],
    }  # fmt: skip


def _present(body: dict[str, Any]) -> dict[str, Any]:
    canned = application().get_canned_response(UUID(str(body["id"])))
    shown = s.CannedResponseSchema().dump(canned_view(canned, int(body["version"])))
    return {**shown, "position": body["position"]}


@blp.route("", methods=["GET"])
@requires(READ)
@blp.arguments(s.CannedResponseListArgsSchema, location="query")
@blp.read("listCannedResponses", s.CannedResponsePageSchema, problems=(401, 403, 422, 503))
def list_canned(args: dict[str, Any]) -> Any:
    """The live canned responses (of one team with `team`), the oldest first"""
    found = application().list_canned_responses(args.get("team"))
    return {"items": [canned_view(c) for c in found], "next_cursor": None}


@blp.route("", methods=["POST"])
@requires(MANAGE_CARE)
@blp.arguments(s.CannedResponseSpecSchema)
@blp.write(
    "createCannedResponse",
    201,
    s.CannedResponseWrittenSchema,
    description="created: version 1",
    if_match=False,
    location=True,
    follow=CANNED_LINKS,
)
def create_canned(data: dict[str, Any]) -> Any:
    """Create a canned response for a team"""
    actor = current_principal().actor

    def command(claim: Claim | None) -> Outcome:
        return application().create_canned_response(data, actor=actor, claim=claim)

    return execute(
        command,
        status=201,
        location=lambda id_: f"/v1/canned-responses/{id_}",
        present=_present,
    )


@blp.route("/<uuid:canned_response_id>", methods=["GET"])
@requires(READ)
@blp.read("getCannedResponse", s.CannedResponseSchema, headers=("ETag",), problems=READ_ONE)
def get_canned(canned_response_id: UUID) -> Any:
    """A canned response's latest version; `ETag` is its version"""
    canned = application().get_canned_response(canned_response_id)
    return canned_view(canned), 200, {"ETag": f'"{canned.version}"'}


@blp.route("/<uuid:canned_response_id>", methods=["PUT"])
@requires(MANAGE_CARE)
@blp.arguments(s.CannedResponseSpecSchema)
@blp.write("reviseCannedResponse", 200, s.CannedResponseWrittenSchema)
def revise_canned(data: dict[str, Any], canned_response_id: UUID) -> Any:
    """Save the canned response's next version (the whole of it); a deleted one is 409"""
    actor, expected = current_principal().actor, expected_version()
    return execute(
        lambda claim: application().revise_canned_response(
            canned_response_id, data, actor=actor, expected_version=expected, claim=claim
        ),
        present=_present,
    )


@blp.route("/<uuid:canned_response_id>", methods=["DELETE"])
@requires(MANAGE_CARE)
@blp.write(
    "deleteCannedResponse",
    200,
    s.CannedResponseWrittenSchema,
    description="deleted (its last version, marked deleted)",
    problems=DELETE_PROBLEMS,
)
def delete_canned(canned_response_id: UUID) -> Any:
    """Delete the canned response: no agent can use it any more

    It stays readable (`deleted: true`), as the replies made from it stay as they were.
    Deleting it again is 409.
    """
    actor, expected = current_principal().actor, expected_version()
    return execute(
        lambda claim: application().delete_canned_response(
            canned_response_id, actor=actor, expected_version=expected, claim=claim
        ),
        present=_present,
    )
