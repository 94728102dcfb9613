"""The care policy as one readable document: ``GET /v1/care-policy``.

Who answers what, in the words of the rules themselves: how messages are classified,
where cases are routed, the SLA promises (the live policies in the order they apply,
then the built-in default), and each team's canned responses. :func:`document` gathers
it (the same data the JSON answer shows); :func:`markdown` writes it as a page a care
team can read, print or paste into its handbook. Nothing here decides anything: the
page is made from the rules the system applies, so it cannot drift from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.resources.canned_responses import canned_view
from app.resources.rosters import roster_view
from app.resources.sla_policies import policy_view
from domain.application import Conversations
from domain.roster_service import RosterNotFoundError
from domain.sla_terms import DEFAULT_SPEC


def document(app: Conversations) -> dict[str, Any]:
    rules = app.care_rules_at()
    teams: dict[str, list[dict[str, Any]]] = {}
    for canned in app.list_canned_responses():
        shown = canned_view(canned)
        teams.setdefault(shown["team"], []).append(shown)
    rosters = []
    for team in dict.fromkeys(r["team"] for r in rules["rules"]["routing"] if r["team"]):
        try:
            rosters.append(roster_view(app.get_roster(team)))
        except RosterNotFoundError:
            rosters.append({"team": team, "version": 0, "last_assigned": None, "agents": []})
    return {
        "version": rules["version"],
        "updated_at": rules["at"],
        "updated_by": rules["by"],
        "classifier": rules["rules"]["classifier"],
        "routing": rules["rules"]["routing"],
        "sla": {
            "policies": [policy_view(p) for p in app.list_sla_policies()],
            "default": DEFAULT_SPEC.to_dict(),
        },
        "rosters": rosters,
        "canned_responses": [
            {"team": team, "responses": found} for team, found in sorted(teams.items())
        ],
    }


# ---------------------------------------------------------------------- markdown
def _quoted(values: Iterable[str]) -> str:
    return ", ".join(f"`{_code(v)}`" for v in values)


def _code(text: str) -> str:
    """Text safe inside a Markdown code span (a backtick would end it)."""
    return text.replace("`", "'").replace("\n", " ")


def _plain(text: str) -> str:
    """Text safe in a Markdown line: no markup of its own, no line breaks."""
    escaped = "".join(f"\\{c}" if c in "\\`*_[]<>|~&" else c for c in text)
    return " ".join(escaped.split())


def _span(seconds: int) -> str:
    """``3 min 45 s``, ``1 d 2 h``: the largest units, none of them zero."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
    return " ".join(parts) or "0 s"


def _classifier(doc: dict[str, Any]) -> list[str]:
    classifier = doc["classifier"]
    lines = ["## How messages are classified", ""]
    if doc["version"] == 0:
        return [*lines, "No care policy is saved yet: no message is classified.", ""]
    lines += ["The rules are tried in order; the first that matches gives the label.", ""]
    for n, rule in enumerate(classifier["rules"], start=1):
        found = []
        if rule["keywords"]:
            found.append(f"mentions {_quoted(rule['keywords'])}")
        if rule["pattern"] is not None:
            found.append(f"matches the pattern {_quoted([rule['pattern']])}")
        where = f" on {_quoted(rule['channels'])}" if rule["channels"] else ""
        lines.append(
            f"{n}. **{_plain(rule['name'])}**: a message that {' or '.join(found)}{where} "
            f"is **{rule['label']}**."
        )
    lines += ["", f"Any other message is **{classifier['default']}**.", ""]
    return lines


def _routing(doc: dict[str, Any]) -> list[str]:
    lines = ["## Where cases go", ""]
    if not doc["routing"]:
        return [*lines, "No routing rules: cases wait in the inbox for an agent to pick.", ""]
    lines += [
        "Each new message is routed by the first rule it matches. A new case gets the "
        "rule's team and priority; a later message only fills a missing team and only "
        "raises the priority.",
        "",
    ]
    for n, rule in enumerate(doc["routing"], start=1):
        when = []
        if rule["keywords"]:
            when.append(f"mentions {_quoted(rule['keywords'])}")
        if rule["channels"]:
            when.append(f"arrives on {_quoted(rule['channels'])}")
        if rule["classifications"]:
            when.append(f"is {' or '.join(rule['classifications'])}")
        if rule["customer_tags"]:
            when.append(f"comes from a customer tagged {_quoted(rule['customer_tags'])}")
        sets = []
        if rule["team"] is not None:
            sets.append(f"team **{_plain(rule['team'])}**")
        if rule["priority"] is not None:
            sets.append(f"priority **{rule['priority']}**")
        condition = " and ".join(when) if when else "any message"
        lines.append(f"{n}. **{_plain(rule['name'])}**: {condition} → {', '.join(sets)}.")
    return [*lines, ""]


def _shift(shift: dict[str, Any]) -> str:
    hours = shift.get("hours")
    days = (
        "round the clock"
        if hours is None
        else "; ".join(f"{day} {', '.join(periods)}" for day, periods in hours.items() if periods)
    )
    off = f" (off {', '.join(shift['holidays'])})" if shift.get("holidays") else ""
    return f"{days}, {shift['time_zone']}{off}"


def _rosters(doc: dict[str, Any]) -> list[str]:
    lines = ["## Who answers", ""]
    if not doc["rosters"]:
        return [*lines, "No team is routed to: cases wait for an agent to pick them.", ""]
    lines += [
        "A case routed to a team goes to its next agent on shift with room, in turn; "
        "with nobody, it waits in the team's queue.",
        "",
    ]
    for roster in doc["rosters"]:
        lines += [f"### Team {_plain(roster['team'])}", ""]
        if not roster["agents"]:
            lines += ["Nobody on the roster: its cases wait in its queue.", ""]
            continue
        lines += ["| agent | cases at most | shift |", "|---|---|---|"]
        for a in roster["agents"]:
            lines.append(
                f"| {_plain(a['agent'])} | {a['capacity']} | {_plain(_shift(a['shift']))} |"
            )
        lines.append("")
    return lines


def _targets(policy: dict[str, Any]) -> list[str]:
    if not policy["targets"]:
        return ["No targets: times are measured, never breached.", ""]
    lines = ["| metric | within | channel | priority | counted |", "|---|---|---|---|---|"]
    for t in policy["targets"]:
        counted = "business hours" if t["business_hours"] else "round the clock"
        lines.append(
            f"| {t['metric']} | {_span(t['seconds'])} | {t['channel'] or 'any'} | "
            f"{t['priority'] or 'any'} | {counted} |"
        )
    return [*lines, ""]


def _sla(doc: dict[str, Any]) -> list[str]:
    lines = [
        "## What customers are promised",
        "",
        "A case gets the first policy below whose conditions it matches when it opens "
        "(after routing), else the built-in default.",
        "",
    ]
    for policy in doc["sla"]["policies"]:
        conditions = {k: x for k, x in policy["conditions"].items() if x}
        lines += [f"### {_plain(policy['name'])} (version {policy['version']})", ""]
        if policy["description"]:
            lines += [_plain(policy["description"]), ""]
        lines.append(
            "For cases with "
            + "; ".join(f"{k.replace('_', ' ')} {_quoted(x)}" for k, x in conditions.items())
            + "."
            if conditions
            else "For every case."
        )
        calendar = policy.get("calendar")
        if calendar:
            lines.append(f"Business hours in {calendar['time_zone']}.")
        lines += ["", *_targets(policy)]
    default = doc["sla"]["default"]
    lines += [f"### {_plain(default['name'])}", "", _plain(default["description"]), ""]
    return lines + _targets(default)


def _canned(doc: dict[str, Any]) -> list[str]:
    lines = ["## Canned responses", ""]
    if not doc["canned_responses"]:
        return [*lines, "None yet.", ""]
    for team in doc["canned_responses"]:
        lines += [f"### Team {_plain(team['team'])}", ""]
        for canned in team["responses"]:
            lines += [f"**{_plain(canned['name'])}**", ""]
            lines += [f"> {_plain(line) or ' '}" for line in canned["body"].splitlines()]
            lines.append("")
    return lines


def markdown(doc: dict[str, Any]) -> str:
    """The document as Markdown; every value from a rule is escaped, so no rule's text
    can add a heading, a link or HTML to the page."""
    saved = (
        f"version {doc['version']}, saved {doc['updated_at']:%Y-%m-%d %H:%M} UTC by "
        f"{_plain(doc['updated_by'])}"
        if doc["version"]
        else "no version saved yet"
    )
    lines = [f"# Care policy ({saved})", ""]
    lines += _classifier(doc) + _routing(doc) + _rosters(doc) + _sla(doc) + _canned(doc)
    return "\n".join(lines).rstrip() + "\n"
