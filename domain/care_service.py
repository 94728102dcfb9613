"""Care policy use cases: keep the rules, and apply them to each inbound message.

Every inbound message is classified, and routed, in the save that records it: the
classification is a ``MessageClassified`` event on the case (label, the policy version,
the rule that matched), and a routing rule that matches records ``Routed`` and then the
usual ``Assigned`` (team) and ``PriorityChanged`` events, all by :data:`ROUTING_ACTOR`.

Until a supervisor first saves the care policy nothing is classified or routed (no
event), so cases kept before there was a policy keep their histories as they were.

A case's opening is routed before its SLA policy is chosen, so the SLA rules see the
team and priority routing gave it. On a later message routing only fills what is
missing and never overrules a person: the team is set only if the case has none, and
the priority only ever rises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain.care_policy import CarePolicy
from domain.care_rules import CareRules, Match, MessageFacts, RoutingRule, higher_priority
from domain.conversation import Conversation
from domain.exceptions import NotFoundError, PreconditionFailedError
from domain.idempotency import Claim
from domain.outcome import Outcome
from domain.roster import TeamRoster
from domain.roster_service import Rosters

CLASSIFIER_ACTOR = "system:classifier"
ROUTING_ACTOR = "system:routing"


class CarePolicyVersionNotFoundError(NotFoundError):
    field = "version"


@dataclass(frozen=True)
class CareDecision:
    """What the care policy (at ``policy_version``) made of one message."""

    policy_version: int
    label: str
    match: Match | None
    routing: tuple[RoutingRule, int] | None

    @property
    def team(self) -> str | None:
        return self.routing[0].team if self.routing else None

    @property
    def priority(self) -> str | None:
        return self.routing[0].priority if self.routing else None


class CarePolicies(Rosters):
    _care_cache: tuple[int, CarePolicy] | None = None

    # ------------------------------------------------------------------ the rules
    def save_care_rules(
        self,
        rules: dict[str, Any],
        *,
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Save the rules as the care policy's next version (version 1 the first time)."""
        checked = CareRules.from_dict(rules).to_dict()
        now = self.clock()
        try:
            policy: CarePolicy = self.repository.get(CarePolicy.create_id())
        except AggregateNotFoundError:
            self._check_version_zero(expected_version)
            policy = CarePolicy(rules=checked, actor=actor, timestamp=now)
        else:
            self._check_version(policy, expected_version)
            policy.revise(rules=checked, actor=actor, timestamp=now)
        return self._save(
            policy, claim=claim, expected_version=expected_version,
            response=lambda: Outcome(policy.id, policy.version, None, {}),
        )  # fmt: skip

    def _check_version_zero(self, expected_version: int | None) -> None:
        if expected_version not in (None, 0):
            raise PreconditionFailedError(CarePolicy.create_id(), 0, expected_version)

    def care_policy(self) -> CarePolicy | None:
        """The care policy, reloaded only when it has changed; None before the first save."""
        kept: CarePolicy | None = self._kept_current(CarePolicy.create_id(), "_care_cache")
        return kept

    def care_rules_at(self, version: int | None = None) -> dict[str, Any]:
        """One version of the rules as saved (``version``, ``rules``, ``at``, ``by``); the
        latest if None, and version 0 (no rules, nothing applied) before the first save."""
        policy = self.care_policy()
        if policy is None or version == 0:
            if version not in (None, 0):
                raise CarePolicyVersionNotFoundError("the care policy has no saved version yet")
            return {"version": 0, "rules": CareRules().to_dict(), "at": None, "by": None}
        found = policy.at_version(policy.policy_version if version is None else version)
        if found is None:
            raise CarePolicyVersionNotFoundError(
                f"the care policy has versions 0 to {policy.policy_version}"
            )
        return found

    def care_rule_versions(self) -> list[dict[str, Any]]:
        policy = self.care_policy()
        return list(policy.versions) if policy is not None else []

    # ------------------------------------------------------------------ inbound
    def _care_decision(
        self, text: str, channel: str, customer_tags: Sequence[str]
    ) -> CareDecision | None:
        """What the care policy makes of an inbound message; None before there is one."""
        policy = self.care_policy()
        if policy is None:
            return None
        return self._decide(policy.parsed, policy.policy_version, text, channel, customer_tags)

    @staticmethod
    def _decide(
        rules: CareRules, version: int, text: str, channel: str, customer_tags: Sequence[str]
    ) -> CareDecision:
        label, match = rules.classifier.classify(text, channel)
        routing = rules.route(MessageFacts(text, channel, label, tuple(customer_tags)))
        return CareDecision(version, label, match, routing)

    def _apply_care(
        self,
        conversation: Conversation,
        message_id: UUID,
        decision: CareDecision | None,
        now: datetime,
        *,
        opening: bool,
    ) -> list[TeamRoster]:
        """Record the decision on the case, and hand a case routed to a team to its next
        agent: the case and the roster returned are saved by the caller, with the
        message."""
        if decision is None:
            return []
        match = decision.match
        conversation.classify_message(
            message_id=message_id, label=decision.label,
            rule=match.rule if match else None, position=match.position if match else None,
            policy_version=decision.policy_version, actor=CLASSIFIER_ACTOR, timestamp=now,
        )  # fmt: skip
        if decision.routing is None:
            return []
        rule, position = decision.routing
        team = rule.team if (opening or conversation.team is None) else None
        if team == conversation.team:
            team = None
        priority = rule.priority
        if priority is not None and not higher_priority(priority, conversation.priority):
            priority = None
        if team is None and priority is None:
            return []  # nothing the rule sets is missing, or it would lower the priority
        conversation.route(
            message_id=message_id, rule=rule.name, position=position,
            policy_version=decision.policy_version, team=team, priority=priority,
            actor=ROUTING_ACTOR, timestamp=now,
        )  # fmt: skip
        return self._hand_out(conversation, now) if team is not None else []


def message_text(subject: str | None, body: str) -> str:
    """What the rules read of a message: its subject (an e-mail's), then its body."""
    return f"{subject}\n{body}" if subject else body
