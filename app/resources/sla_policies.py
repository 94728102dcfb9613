"""``/v1/sla/policies``: the SLA policies a case may be promised, every version of each.

Every save is a new version of the policy (its ``ETag``); a case keeps the version it was
promised when its clock started, whatever is saved later. Supervisors write; every role
that reads may read.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from app.apidoc import Blueprint, links
from app.auth import current_principal, requires
from app.schemas import sla as s
from app.state import application
from app.writes import execute, expected_version
from domain.access import MANAGE_SLA, READ
from domain.business_hours import WEEKDAYS
from domain.idempotency import Claim
from domain.outcome import Outcome
from domain.sla_policy import SlaPolicy
from domain.sla_service import SlaPolicyNotFoundError

blp = Blueprint(
    "sla policies",
    __name__,
    url_prefix="/v1/sla/policies",
    description="SLA policies: targets, business hours, which cases; every version kept.",
)

POLICY_LINKS = links(
    "id", "policy_id", "getSlaPolicy", "reviseSlaPolicy", "retireSlaPolicy",
    "listSlaPolicyVersions",
)  # fmt: skip
READ_ONE = (401, 403, 404, 503)
RETIRE_PROBLEMS = (401, 403, 404, 409, 412, 422, 503)  # no body: never 413 or 415


def policy_view(policy: SlaPolicy, version: int | None = None) -> dict[str, Any]:
    """Version ``version`` of the policy (its latest if None), as the API shows it."""
    entry = policy.at_version(policy.policy_version if version is None else version)
    if entry is None:
        raise SlaPolicyNotFoundError(
            f"SLA policy {policy.id} has versions 1 to {policy.policy_version}", field="version"
        )
    first = policy.versions[0]
    return {
        "id": policy.id, "version": entry["version"], **entry["spec"],
        "retired": entry["retired"], "created_at": first["at"], "created_by": first["by"],
        "updated_at": entry["at"], "updated_by": entry["by"],
    }  # fmt: skip


def _present(body: dict[str, Any]) -> dict[str, Any]:
    """A write's answer: the version of the policy it saved, and the write's position."""
    policy = application().get_sla_policy(UUID(str(body["id"])))
    shown: dict[str, Any] = s.SlaPolicySchema().dump(policy_view(policy, int(body["version"])))
    return {**shown, "position": body["position"]}


def _spec_fields(data: dict[str, Any]) -> dict[str, str]:
    """The domain names a calendar's parts as a calendar does (``time_zone``,
    ``hours.mon``); in a policy they are under ``calendar``."""
    names = ["time_zone", "hours", "holidays", "holiday_lists"]
    names += [f"hours.{day}" for day in WEEKDAYS]
    lists = (data.get("calendar") or {}).get("holiday_lists", {})
    names += [f"holiday_lists.{name}" for name in lists]
    return {name: f"calendar.{name}" for name in names}


def _etag(policy: SlaPolicy) -> dict[str, str]:
    return {"ETag": f'"{policy.policy_version}"'}


@blp.route("", methods=["GET"])
@requires(READ)
@blp.arguments(s.SlaPolicyListArgsSchema, location="query")
@blp.read("listSlaPolicies", s.SlaPolicyPageSchema, problems=(401, 403, 422, 503))
def list_policies(args: dict[str, Any]) -> Any:
    """The live policies in the order they apply: by rank, then the older first

    A case gets the first whose conditions it matches, else the built-in default.
    `include_retired=true` lists the retired ones too, after the live ones.
    """
    policies = application().list_sla_policies(include_retired=args["include_retired"])
    return {"items": [policy_view(p) for p in policies], "next_cursor": None}


@blp.route("", methods=["POST"])
@requires(MANAGE_SLA)
@blp.arguments(s.SlaPolicySpecSchema)
@blp.write(
    "createSlaPolicy",
    201,
    s.SlaPolicyWrittenSchema,
    description="created: version 1, live for cases that open from now on",
    if_match=False,
    location=True,
    follow=POLICY_LINKS,
)
def create_policy(data: dict[str, Any]) -> Any:
    """Create an SLA policy (version 1)"""
    actor = current_principal().actor

    def command(claim: Claim | None) -> Outcome:
        return application().create_sla_policy(data, actor=actor, claim=claim)

    return execute(
        command,
        status=201,
        location=lambda id_: f"/v1/sla/policies/{id_}",
        fields=_spec_fields(data),
        present=_present,
    )


@blp.route("/<uuid:policy_id>", methods=["GET"])
@requires(READ)
@blp.read("getSlaPolicy", s.SlaPolicySchema, headers=("ETag",), problems=READ_ONE)
def get_policy(policy_id: UUID) -> Any:
    """A policy's latest version; `ETag` is its version"""
    policy = application().get_sla_policy(policy_id)
    return policy_view(policy), 200, _etag(policy)


@blp.route("/<uuid:policy_id>", methods=["PUT"])
@requires(MANAGE_SLA)
@blp.arguments(s.SlaPolicySpecSchema)
@blp.write(
    "reviseSlaPolicy",
    200,
    s.SlaPolicyWrittenSchema,
    description="saved as the policy's next version",
)
def revise_policy(data: dict[str, Any], policy_id: UUID) -> Any:
    """Save a new version of the policy (the whole policy, as for creating one)

    Cases opening from now on get the new version; cases already promised an older one
    keep it. A retired policy cannot be revised (409).
    """
    actor, expected = current_principal().actor, expected_version()
    return execute(
        lambda claim: application().revise_sla_policy(
            policy_id, data, actor=actor, expected_version=expected, claim=claim
        ),
        fields=_spec_fields(data),
        present=_present,
    )


@blp.route("/<uuid:policy_id>", methods=["DELETE"])
@requires(MANAGE_SLA)
@blp.write(
    "retireSlaPolicy",
    200,
    s.SlaPolicyWrittenSchema,
    description="retired (its last version, marked retired)",
    problems=RETIRE_PROBLEMS,
)
def retire_policy(policy_id: UUID) -> Any:
    """Retire the policy: it applies to no new case

    Its versions stay, and so do the promises made under them. Retiring it again is 409.
    """
    actor, expected = current_principal().actor, expected_version()
    return execute(
        lambda claim: application().retire_sla_policy(
            policy_id, actor=actor, expected_version=expected, claim=claim
        ),
        present=_present,
    )


@blp.route("/<uuid:policy_id>/versions", methods=["GET"])
@requires(READ)
@blp.read("listSlaPolicyVersions", s.SlaPolicyPageSchema, problems=READ_ONE)
def list_versions(policy_id: UUID) -> Any:
    """Every version of the policy, the first first"""
    policy = application().get_sla_policy(policy_id)
    items = [policy_view(policy, n) for n in range(1, policy.policy_version + 1)]
    return {"items": items, "next_cursor": None}


@blp.route("/<uuid:policy_id>/versions/<version:version>", methods=["GET"])
@requires(READ)
@blp.read("getSlaPolicyVersion", s.SlaPolicySchema, problems=READ_ONE)
def get_version(policy_id: UUID, version: int) -> Any:
    """One version of the policy (404 for a version it never had)"""
    return policy_view(application().get_sla_policy(policy_id), version)
