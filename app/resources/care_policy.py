"""``/v1/care-policy``: the care policy's rules (classifier and routing), every version.

One document: every save of its rules is its next version (its ``ETag``); a message is
classified, and its case routed, by the version current when it arrived, and the
classification names that version. Supervisors write; every role that reads may read.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from app import care_document
from app.apidoc import Blueprint
from app.auth import current_principal, requires
from app.schemas import care as s
from app.state import application
from app.writes import execute, expected_version
from domain.access import MANAGE_CARE, READ
from domain.care_service import CarePolicyVersionNotFoundError

blp = Blueprint(
    "care policy",
    __name__,
    url_prefix="/v1/care-policy",
    description="The care policy: how messages are classified and cases routed.",
)

READ_ONE = (401, 403, 404, 503)
MARKDOWN = "text/markdown"
PAGE_TYPES = ("application/json", MARKDOWN)


@blp.route("", methods=["GET"])
@requires(READ)
@blp.read("getCarePolicy", s.CarePolicyDocumentSchema, problems=(401, 403, 503))
@blp.operation(
    "getCarePolicy",
    responses={
        200: {
            "content": {
                MARKDOWN: {
                    "schema": {"type": "string"},
                    "example": "# Care policy (version 3, ...)\n\n## How messages are classified\n",
                }
            }
        }
    },
)
def get_document() -> Any:
    """The care policy as one document: classification, routing, SLA promises, canned
    responses

    JSON by default; `Accept: text/markdown` gives the same as a page to read (UTF-8
    Markdown). Any other `Accept` gets JSON.
    """
    found = care_document.document(application())
    if request.accept_mimetypes.best_match(PAGE_TYPES, default="application/json") == MARKDOWN:
        page = care_document.markdown(found)
        return Response(page, mimetype=MARKDOWN, content_type=f"{MARKDOWN}; charset=utf-8")
    return found


def rules_view(entry: dict[str, Any]) -> dict[str, Any]:
    """One saved version of the rules, as the API shows it."""
    return {
        "version": entry["version"], **entry["rules"], "updated_at": entry["at"],
        "updated_by": entry["by"],
    }  # fmt: skip


def _present(body: dict[str, Any]) -> dict[str, Any]:
    """A write's answer: the version it saved, and the write's position."""
    shown = s.CareRulesViewSchema().dump(rules_view(application().care_rules_at(body["version"])))
    return {**shown, "position": body["position"]}


@blp.route("/rules", methods=["GET"])
@requires(READ)
@blp.read("getCareRules", s.CareRulesViewSchema, headers=("ETag",), problems=READ_ONE)
def get_rules() -> Any:
    """The rules now: the classifier and the routing; `ETag` is the policy's version

    Version 0, with no rules, until a supervisor first saves them: until then no message
    is classified and no case routed.
    """
    entry = application().care_rules_at()
    return rules_view(entry), 200, {"ETag": f'"{entry["version"]}"'}


@blp.route("/rules", methods=["PUT"])
@requires(MANAGE_CARE)
@blp.arguments(s.CareRulesSchema)
@blp.write("saveCareRules", 200, s.CareRulesWrittenSchema, description="saved as the next version")
def save_rules(data: dict[str, Any]) -> Any:
    """Save the rules, whole, as the care policy's next version

    Messages arriving from now on are classified and routed by it; those classified
    before keep the version that classified them. `If-Match: "0"` saves the first version
    only if none is saved yet.
    """
    actor, expected = current_principal().actor, expected_version()
    return execute(
        lambda claim: application().save_care_rules(
            data, actor=actor, expected_version=expected, claim=claim
        ),
        present=_present,
    )


@blp.route("/rules/versions", methods=["GET"])
@requires(READ)
@blp.read("listCareRuleVersions", s.CareRulesPageSchema, problems=(401, 403, 503))
def list_versions() -> Any:
    """Every saved version of the rules, the first first"""
    return {
        "items": [rules_view(e) for e in application().care_rule_versions()],
        "next_cursor": None,
    }


@blp.route("/rules/versions/<version:version>", methods=["GET"])
@requires(READ)
@blp.read("getCareRuleVersion", s.CareRulesViewSchema, problems=READ_ONE)
def get_version(version: int) -> Any:
    """One saved version of the rules (404 for a version it never had)"""
    if version < 1:  # version 0 is no saved version: the rules before the first save
        raise CarePolicyVersionNotFoundError("versions are numbered from 1")
    return rules_view(application().care_rules_at(version))
