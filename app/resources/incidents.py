"""``/v1/incidents``: declare an outage, link its cases, acknowledge and follow them up one
by one, post its general update, and read its ledger."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from app.apidoc import Blueprint, links
from app.auth import current_principal, requires
from app.errors import RequestFieldError
from app.readside import catch_up, headers_for, read_store
from app.schemas import incidents as s
from app.state import application
from app.writes import execute, expected_version
from domain.access import HANDLE, INCIDENTS, READ
from domain.incident import Incident
from domain.incidents import IncidentNotFoundError
from projections.incidents import incident_ledger, list_incidents

blp = Blueprint(
    "incidents",
    __name__,
    url_prefix="/v1/incidents",
    description="Outages: many customers, one cause; each still answered one by one.",
)

INCIDENT_LINKS = links(
    "id", "incident_id", "getIncident", "getIncidentLedger", "linkIncidentCase",
    "acknowledgeIncident", "postIncidentUpdate", "resolveIncident",
)  # fmt: skip
READ_HEADERS = ("Parley-Projection-Position", "Parley-Projection-Lag")


def _view(incident: Incident) -> tuple[dict[str, Any], int, dict[str, str]]:
    app = application()
    body = {
        "id": incident.id,
        "version": incident.version,
        "title": incident.title,
        "public_summary": incident.public_summary,
        "links": incident.links,
        "keywords": incident.keywords,
        "status": incident.status,
        "declared_at": incident.declared_at,
        "declared_by": incident.declared_by,
        "acknowledgement": incident.acknowledgement,
        "acknowledgement_by": incident.acknowledgement_by,
        "acknowledgement_at": incident.acknowledgement_at,
        "updates": list(incident.updates.values()),
        "resolved_at": incident.resolved_at,
        "resolved_by": incident.resolved_by,
        "summary": incident.summary,
        "follow_up": incident.follow_up,
        "cases": app.incident_counts(incident),
    }
    return body, 200, {"ETag": f'"{incident.version}"'}


@blp.route("", methods=["POST"])
@requires(INCIDENTS)
@blp.arguments(s.DeclareIncidentSchema)
@blp.write(
    "declareIncident", 201, s.OutcomeSchema, description="declared", if_match=False,
    location=True, follow=INCIDENT_LINKS,
)  # fmt: skip
def declare_incident(data: dict[str, Any]) -> Any:
    """Declare an incident: cases opening with one of its keywords are linked to it"""
    return execute(
        lambda claim: application().declare_incident(
            actor=current_principal().actor, claim=claim, **data
        ),
        status=201,
        location=lambda id_: f"/v1/incidents/{id_}",
    )


@blp.route("", methods=["GET"])
@requires(READ)
@blp.arguments(s.IncidentListArgsSchema, location="query")
@blp.read(
    "listIncidents", s.IncidentPageSchema, headers=READ_HEADERS, problems=(401, 403, 422, 503)
)
def list_all(args: dict[str, Any]) -> Any:
    """Incidents, the latest declared first, with their ledger's counts"""
    meta = catch_up("incidents", args.get("min_position"))
    try:
        page = list_incidents(
            read_store(), args.get("status"), limit=args["limit"], cursor=args.get("cursor")
        )
    except ValueError as error:
        raise RequestFieldError("cursor", "query", s.BAD_CURSOR) from error
    return {**page, "projection": meta}, 200, headers_for(meta)


@blp.route("/<uuid:incident_id>", methods=["GET"])
@requires(READ)
@blp.read("getIncident", s.IncidentSchema, headers=("ETag",), problems=(401, 403, 404, 503))
def get_incident(incident_id: UUID) -> Any:
    """An incident: its terms, updates, standing acknowledgement, resolution, and cases"""
    return _view(application().get_incident(incident_id))


@blp.route("/<uuid:incident_id>", methods=["PATCH"])
@requires(INCIDENTS)
@blp.arguments(s.ReviseIncidentSchema)
@blp.write("reviseIncident", 200, s.RevisedSchema, follow=INCIDENT_LINKS)
def revise_incident(data: dict[str, Any], incident_id: UUID) -> Any:
    """Change a live incident's title, public summary, links or keywords

    What is left out stays. Linked cases stay linked; new keywords link the cases that
    open from now on. 409 once the incident is resolved.
    """
    return execute(
        lambda claim: application().revise_incident(
            incident_id, actor=current_principal().actor,
            expected_version=expected_version(), claim=claim, **data,
        )
    )  # fmt: skip


@blp.route("/<uuid:incident_id>/ledger", methods=["GET"])
@requires(READ)
@blp.arguments(s.LedgerArgsSchema, location="query")
@blp.read("getIncidentLedger", s.LedgerPageSchema, headers=READ_HEADERS)
def ledger(args: dict[str, Any], incident_id: UUID) -> Any:
    """The ledger: per affected case and customer, when they were linked, acknowledged and
    followed up (delivered), and what is still owed

    Rows in the order the cases were linked; `owed` filters; `next_cursor` pages on.
    """
    meta = catch_up("incidents", args.get("min_position"))
    try:
        page = incident_ledger(
            read_store(), str(incident_id), owed=args.get("owed"), limit=args["limit"],
            cursor=args.get("cursor"),
        )  # fmt: skip
    except ValueError as error:
        raise RequestFieldError("cursor", "query", s.BAD_CURSOR) from error
    if not page["items"] and not page["counts"]["linked"]:
        exists = read_store().query(
            "SELECT 1 FROM proj_incidents WHERE incident_id = ?", [str(incident_id)]
        )
        if not exists:
            application().get_incident(incident_id)  # 404 if it does not exist at all
            raise IncidentNotFoundError(
                f"incident {incident_id} is not in the ledger yet (projection at"
                f" {meta['position']}): read again with min_position"
            )
    return {"incident_id": str(incident_id), **page, "projection": meta}, 200, headers_for(meta)


@blp.route("/<uuid:incident_id>/links", methods=["POST"])
@requires(HANDLE)
@blp.arguments(s.LinkSchema)
@blp.write(
    "linkIncidentCase", 201, s.LinkedSchema, description="linked", if_match=False,
    also={200: (s.LinkedSchema, "linked already: nothing was written, `linked` is false")},
)  # fmt: skip
def link(data: dict[str, Any], incident_id: UUID) -> Any:
    """Link a case to the incident by hand (acknowledged at once if acknowledgements stand)"""
    return execute(
        lambda claim: application().link_to_incident(
            incident_id, data["conversation_id"], actor=current_principal().actor, claim=claim
        ),
        status=201,
        status_of=lambda o: 201 if o.extra["linked"] else 200,
    )


@blp.route("/<uuid:incident_id>/links/<uuid:conversation_id>", methods=["DELETE"])
@requires(HANDLE)
@blp.write("unlinkIncidentCase", 200, s.UnlinkedSchema, if_match=False)
def unlink(incident_id: UUID, conversation_id: UUID) -> Any:
    """Unlink a case (linked by mistake): the incident no longer answers it"""
    return execute(
        lambda claim: application().unlink_from_incident(
            incident_id, conversation_id, actor=current_principal().actor, claim=claim
        )
    )


@blp.route("/<uuid:incident_id>/acknowledgements", methods=["POST"])
@requires(INCIDENTS)
@blp.arguments(s.AcknowledgeSchema)
@blp.write(
    "acknowledgeIncident", 202, s.BulkSchema,
    description="queued: one acknowledgement per case; deliveries are recorded later",
)  # fmt: skip
def acknowledge(data: dict[str, Any], incident_id: UUID) -> Any:
    """Acknowledge each linked case individually (and every case linked from now on)

    One `acknowledgement` reply per case not acknowledged yet, where the case began; the
    workers deliver them within the channel's rate limits. At most `limit` cases per call:
    call again while `remaining` is above 0 (nobody is acknowledged twice).
    """
    return execute(
        lambda claim: application().acknowledge_incident(
            incident_id, actor=current_principal().actor,
            expected_version=expected_version(), claim=claim, **data,
        ),
        status=202,
    )  # fmt: skip


@blp.route("/<uuid:incident_id>/updates", methods=["POST"])
@requires(INCIDENTS)
@blp.arguments(s.PostUpdateSchema)
@blp.write(
    "postIncidentUpdate", 202, s.UpdateQueuedSchema,
    description="queued: a worker posts it once from the brand's X account",
)  # fmt: skip
def post_update(data: dict[str, Any], incident_id: UUID) -> Any:
    """Post the general public update (the public summary and links, or `body`)"""
    return execute(
        lambda claim: application().post_incident_update(
            incident_id, actor=current_principal().actor, body=data["body"],
            expected_version=expected_version(), claim=claim,
        ),
        status=202,
    )  # fmt: skip


@blp.route("/<uuid:incident_id>/resolve", methods=["POST"])
@requires(INCIDENTS)
@blp.arguments(s.ResolveIncidentSchema)
@blp.write("resolveIncident", 200, s.BulkSchema)
def resolve(data: dict[str, Any], incident_id: UUID) -> Any:
    """Resolve the incident, resolve each linked case and follow each one up where it began

    At most `limit` cases per call: call again with the same `summary` while `remaining` is
    above 0.
    """
    return execute(
        lambda claim: application().resolve_incident(
            incident_id, actor=current_principal().actor,
            expected_version=expected_version(), claim=claim, **data,
        )
    )  # fmt: skip
