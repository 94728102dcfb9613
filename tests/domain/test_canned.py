"""Canned responses' templates, with no store: explicit substitution, and every unknown
variable refused by name."""

from __future__ import annotations

import pytest

from domain.canned import check_spec, render, template_variables
from domain.exceptions import InvalidValueError

BUILT_IN = {"customer_name": "Ann", "case_link": "https://help.example.com/c/1",
            "incident_links": ""}  # fmt: skip


def refused_field(text: str, given: dict[str, str], built_in=BUILT_IN) -> str | None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidValueError) as refused:
        render(text, built_in, given)
    return refused.value.field


def test_the_systems_variables_and_the_agents_are_filled_in() -> None:
    text = "Hi $customer_name, order ${order_id} is on its way: $case_link (costs $$5)"

    rendered = render(text, BUILT_IN, {"order_id": "A-17"})

    assert rendered == "Hi Ann, order A-17 is on its way: https://help.example.com/c/1 (costs $5)"


def test_a_variable_the_text_uses_and_nobody_gives_is_refused_by_name() -> None:
    assert refused_field("Order $order_id, ref $ref", {"ref": "x"}) == "variables.order_id"


def test_a_variable_given_that_the_text_does_not_use_is_refused_by_name() -> None:
    assert refused_field("Hi $customer_name", {"order_id": "A-17"}) == "variables.order_id"


def test_the_systems_variables_are_not_the_agents_to_give() -> None:
    assert refused_field("Hi $customer_name", {"customer_name": "Bob"}) == (
        "variables.customer_name"
    )


def test_a_customer_with_no_name_on_record_may_be_named_by_the_agent() -> None:
    unknown = {**BUILT_IN, "customer_name": None}

    assert render("Hi $customer_name", unknown, {"customer_name": "Bob"}) == "Hi Bob"
    assert refused_field("Hi $customer_name", {}, unknown) == "variables.customer_name"


def test_substitution_evaluates_nothing() -> None:
    text = "Hi $customer_name"

    assert render(text, {**BUILT_IN, "customer_name": "${case_link} {0.__class__}"}, {}) == (
        "Hi ${case_link} {0.__class__}"
    )


def test_a_lone_dollar_is_refused_when_the_canned_response_is_saved() -> None:
    with pytest.raises(InvalidValueError) as refused:
        check_spec({"name": "n", "team": "t", "body": "costs 5$ only"})
    assert refused.value.field == "body"
    assert template_variables("$a ${b} $a $$c") == ["a", "b"]
