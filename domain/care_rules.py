"""The care policy's rules: how a message is classified and where a case is routed.

Both are lists a supervisor reads top to bottom: the first rule that matches decides.
A classifier rule names a label (praise, complaint, question, other) and what it looks
for: keywords (whole words or phrases, case-folded, as an incident's keywords are
matched) and/or a regular expression, optionally only on some channels; no rule
matching gives the classifier's ``default`` label. A routing rule names conditions on
the message and the case (keywords, channels, the message's classification, the
customer's tags; every list given must match, an empty one matches anything) and what
it sets: a team, a priority, or both.

Everything here is a plain value built from, and turned back into, JSON-able dicts;
refusals are :class:`~domain.exceptions.InvalidValueError` naming the field as the
request names it (``classifier.rules.2.pattern``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from domain import values as v
from domain.exceptions import InvalidValueError
from domain.incident import check_keywords, keyword_pattern, matching_keyword

PRAISE, COMPLAINT, QUESTION, OTHER = "praise", "complaint", "question", "other"
LABELS = (PRAISE, COMPLAINT, QUESTION, OTHER)
MAX_RULES = 200
PATTERN_MAX = 300  # characters of a rule's regular expression
NAME_MAX = 100
TEAM_MAX = 100


def _check_name(name: Any, where: str, seen: set[str]) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        raise InvalidValueError(f"a rule's name has 1 to {NAME_MAX} characters", field=where)
    if name in seen:
        raise InvalidValueError(f"two rules are named {name!r}", field=where)
    seen.add(name)
    return name


def _compile(pattern: str | None, where: str) -> re.Pattern[str] | None:
    """A supervisor's regular expression, searched case-insensitively in the message."""
    if pattern is None:
        return None
    if not pattern or len(pattern) > PATTERN_MAX:
        raise InvalidValueError(f"a pattern has 1 to {PATTERN_MAX} characters", field=where)
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as error:
        raise InvalidValueError(f"not a regular expression: {error}", field=where) from None


def _channels(channels: Sequence[str], where: str) -> tuple[str, ...]:
    for channel in channels:
        v.check_in(channel, v.CHANNELS, where)
    return tuple(dict.fromkeys(channels))


def _keywords(keywords: Sequence[str], where: str) -> tuple[str, ...]:
    try:
        return tuple(check_keywords(list(keywords)))
    except InvalidValueError as error:
        raise InvalidValueError(str(error), field=where) from None


@dataclass(frozen=True)
class Match:
    """What a rule found: its name, its position (1: the first) and the keyword or
    pattern that matched (the policy's words, never the customer's)."""

    rule: str
    position: int
    matched: str


@dataclass(frozen=True)
class ClassifierRule:
    name: str
    label: str
    keywords: tuple[str, ...] = ()
    pattern: str | None = None
    channels: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str, seen: set[str]) -> ClassifierRule:
        rule = cls(
            name=_check_name(data.get("name"), f"{where}.name", seen),
            label=data.get("label", ""),
            keywords=_keywords(data.get("keywords") or (), f"{where}.keywords"),
            pattern=data.get("pattern"),
            channels=_channels(data.get("channels") or (), f"{where}.channels"),
        )
        v.check_in(rule.label, LABELS, f"{where}.label")
        _compile(rule.pattern, f"{where}.pattern")
        if not rule.keywords and rule.pattern is None:
            raise InvalidValueError(
                "give keywords or a pattern (the classifier's default covers the rest)",
                field=f"{where}.keywords",
            )
        return rule

    @cached_property
    def _keyword_regex(self) -> re.Pattern[str] | None:
        return keyword_pattern(list(self.keywords))

    @cached_property
    def _regex(self) -> re.Pattern[str] | None:
        return _compile(self.pattern, "pattern")

    def find(self, text: str, channel: str) -> str | None:
        """The keyword (or the pattern) this rule finds in ``text``, if it applies."""
        if self.channels and channel not in self.channels:
            return None
        keyword = matching_keyword(self._keyword_regex, list(self.keywords), text)
        if keyword is not None:
            return keyword
        if self._regex is not None and self._regex.search(text):
            return self.pattern
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "label": self.label, "keywords": list(self.keywords),
            "pattern": self.pattern, "channels": list(self.channels),
        }  # fmt: skip


@dataclass(frozen=True)
class Classifier:
    rules: tuple[ClassifierRule, ...] = ()
    default: str = OTHER

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Classifier:
        rules = data.get("rules") or []
        if len(rules) > MAX_RULES:
            raise InvalidValueError(f"at most {MAX_RULES} rules", field="classifier.rules")
        seen: set[str] = set()
        built = tuple(
            ClassifierRule.from_dict(r, f"classifier.rules.{n}", seen) for n, r in enumerate(rules)
        )
        default = data.get("default", OTHER)
        v.check_in(default, LABELS, "classifier.default")
        return cls(built, default)

    def classify(self, text: str, channel: str) -> tuple[str, Match | None]:
        """The label of ``text`` and the rule that gave it (None: the default did)."""
        for position, rule in enumerate(self.rules, start=1):
            matched = rule.find(text, channel)
            if matched is not None:
                return rule.label, Match(rule.name, position, matched)
        return self.default, None

    def to_dict(self) -> dict[str, Any]:
        return {"rules": [r.to_dict() for r in self.rules], "default": self.default}


@dataclass(frozen=True)
class MessageFacts:
    """What routing sees of a message as it arrives: its text and channel, its label,
    and its customer's tags."""

    text: str
    channel: str
    classification: str | None
    customer_tags: Sequence[str] = ()


@dataclass(frozen=True)
class RoutingRule:
    name: str
    team: str | None = None
    priority: str | None = None
    keywords: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    classifications: tuple[str, ...] = ()
    customer_tags: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str, seen: set[str]) -> RoutingRule:
        rule = cls(
            name=_check_name(data.get("name"), f"{where}.name", seen),
            team=data.get("team"),
            priority=data.get("priority"),
            keywords=_keywords(data.get("keywords") or (), f"{where}.keywords"),
            channels=_channels(data.get("channels") or (), f"{where}.channels"),
            classifications=tuple(dict.fromkeys(data.get("classifications") or ())),
            customer_tags=tuple(dict.fromkeys(data.get("customer_tags") or ())),
        )
        for label in rule.classifications:
            v.check_in(label, LABELS, f"{where}.classifications")
        if rule.priority is not None:
            v.check_in(rule.priority, v.PRIORITIES, f"{where}.priority")
        if rule.team is not None and (not rule.team.strip() or len(rule.team) > TEAM_MAX):
            raise InvalidValueError(f"a team has 1 to {TEAM_MAX} characters", field=f"{where}.team")
        if rule.team is None and rule.priority is None:
            raise InvalidValueError(
                "a routing rule sets a team, a priority or both", field=f"{where}.team"
            )
        return rule

    @cached_property
    def _keyword_regex(self) -> re.Pattern[str] | None:
        return keyword_pattern(list(self.keywords))

    def matches(self, facts: MessageFacts) -> bool:
        if self.channels and facts.channel not in self.channels:
            return False
        if self.classifications and facts.classification not in self.classifications:
            return False
        if self.customer_tags and not set(self.customer_tags) & set(facts.customer_tags):
            return False
        if self.keywords:
            return (
                matching_keyword(self._keyword_regex, list(self.keywords), facts.text) is not None
            )
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "team": self.team, "priority": self.priority,
            "keywords": list(self.keywords), "channels": list(self.channels),
            "classifications": list(self.classifications),
            "customer_tags": list(self.customer_tags),
        }  # fmt: skip


@dataclass(frozen=True)
class CareRules:
    """One version of the care policy's rules: the classifier and the routing."""

    classifier: Classifier = field(default_factory=Classifier)
    routing: tuple[RoutingRule, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CareRules:
        routing = data.get("routing") or []
        if len(routing) > MAX_RULES:
            raise InvalidValueError(f"at most {MAX_RULES} rules", field="routing")
        seen: set[str] = set()
        return cls(
            classifier=Classifier.from_dict(data.get("classifier") or {}),
            routing=tuple(
                RoutingRule.from_dict(r, f"routing.{n}", seen) for n, r in enumerate(routing)
            ),
        )

    def route(self, facts: MessageFacts) -> tuple[RoutingRule, int] | None:
        """The first routing rule the message matches, and its position (1: the first)."""
        for position, rule in enumerate(self.routing, start=1):
            if rule.matches(facts):
                return rule, position
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "classifier": self.classifier.to_dict(),
            "routing": [r.to_dict() for r in self.routing],
        }


def higher_priority(new: str, current: str) -> bool:
    """Whether ``new`` is more urgent than ``current`` (``none`` is the least)."""
    return v.PRIORITIES.index(new) > v.PRIORITIES.index(current)
