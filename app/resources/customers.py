"""``/v1/customers``: who the customers are and every identity they reach us by."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from app.apidoc import CUSTOMER_LINKS, Blueprint
from app.auth import current_principal, requires
from app.readside import as_of_store, catch_up, headers_for, read_store
from app.schemas import customers as s
from app.schemas.common import OutcomeSchema, to_identity
from app.schemas.conversations import TagsSchema
from app.schemas.readmodels import HistoryPageSchema, HistoryQueryArgsSchema
from app.state import application
from app.writes import execute, expected_version
from domain.access import ERASE, HANDLE, MANAGE_IDENTITIES, MERGE, OPEN, READ
from domain.customer import Customer
from domain.exceptions import CustomerNotFoundError
from projections.history import customer_timeline

blp = Blueprint(
    "customers",
    __name__,
    url_prefix="/v1/customers",
    description="Customers and their channel identities.",
)


def _view(customer: Customer) -> tuple[dict[str, Any], int, dict[str, str]]:
    body = {
        "id": customer.id,
        "version": customer.version,
        "name": customer.name,
        "identities": application().identities_of(customer),
        "registered_at": customer.registered_at,
        "merged_into": customer.merged_into,
        "absorbed": customer.absorbed,
        "erased_at": customer.erased_at,
        "tags": customer.tags,
    }
    return body, 200, {"ETag": f'"{customer.version}"'}


@blp.route("", methods=["POST"])
@requires(OPEN)
@blp.arguments(s.RegisterCustomerSchema)
@blp.write(
    "registerCustomer", 201, OutcomeSchema, if_match=False, location=True, follow=CUSTOMER_LINKS
)
def register_customer(data: dict[str, Any]) -> Any:
    """Register a customer with one or more identities (each may belong to one customer)"""
    identities = [to_identity(i) for i in data["identities"]]
    return execute(
        lambda claim: application().register_customer(
            name=data["name"], identities=identities, actor=current_principal().actor, claim=claim
        ),
        status=201,
        location=lambda id_: f"/v1/customers/{id_}",
    )


@blp.route("/lookup", methods=["GET"])
@requires(READ)
@blp.arguments(s.LookupArgsSchema, location="query")
@blp.read("lookupCustomer", s.CustomerSchema, headers=("ETag",))
def lookup_customer(args: dict[str, Any]) -> Any:
    """Find the customer who owns an identity (following merges)"""
    identity = to_identity({"kind": args["kind"], "value": args["value"]})
    customer = application().find_customer(identity)
    if customer is None:
        raise CustomerNotFoundError(f"no customer has {identity.key}")
    return _view(customer)


@blp.route("/<uuid:customer_id>", methods=["GET"])
@requires(READ)
@blp.read("getCustomer", s.CustomerSchema, headers=("ETag",), problems=(401, 403, 404, 503))
def get_customer(customer_id: UUID) -> Any:
    """A customer, with identities of any customers merged into it"""
    return _view(application().get_customer(customer_id))


@blp.route("/<uuid:customer_id>/identities", methods=["POST"])
@requires(MANAGE_IDENTITIES)
@blp.arguments(s.AddIdentitySchema)
@blp.write("addCustomerIdentity", 200, OutcomeSchema)
def add_identity(data: dict[str, Any], customer_id: UUID) -> Any:
    """Add a way to reach the customer (refused if another customer has it)"""
    identity = to_identity(data)
    return execute(
        lambda claim: application().add_identity(
            customer_id,
            identity=identity,
            actor=current_principal().actor,
            expected_version=expected_version(),
            claim=claim,
        )
    )


@blp.route("/<uuid:customer_id>/tags", methods=["POST"])
@requires(HANDLE)
@blp.arguments(TagsSchema)
@blp.write("changeCustomerTags", 200, OutcomeSchema)
def change_customer_tags(data: dict[str, Any], customer_id: UUID) -> Any:
    """Add and remove the customer's tags (SLA policies may match them: vip, press, ...)"""
    return execute(
        lambda claim: application().change_customer_tags(
            customer_id,
            add=data["add"],
            remove=data["remove"],
            actor=current_principal().actor,
            expected_version=expected_version(),
            claim=claim,
        ),
        fields={"tags": "add"},
    )


@blp.route("/<uuid:customer_id>/merge", methods=["POST"])
@requires(MERGE)
@blp.arguments(s.MergeCustomerSchema)
@blp.write("mergeCustomer", 200, OutcomeSchema)
def merge_customer(data: dict[str, Any], customer_id: UUID) -> Any:
    """Merge this customer into another record of the same person"""
    return execute(
        lambda claim: application().merge_customers(
            customer_id,
            data["into"],
            actor=current_principal().actor,
            expected_version=expected_version(),
            claim=claim,
        ),
        fields={"target_id": "into"},
    )


@blp.route("/<uuid:customer_id>/unmerge", methods=["POST"])
@requires(MERGE)
@blp.write("unmergeCustomer", 200, OutcomeSchema)
def unmerge_customer(customer_id: UUID) -> Any:
    """Undo a merge: the customer stands on its own again, with what it had"""
    return execute(
        lambda claim: application().unmerge_customer(
            customer_id,
            actor=current_principal().actor,
            expected_version=expected_version(),
            claim=claim,
        )
    )


@blp.route("/<uuid:customer_id>/erasure", methods=["POST"])
@requires(ERASE)
@blp.arguments(s.ErasureRequestSchema)
@blp.write("eraseCustomer", 200, s.ErasureSchema)
def erase_customer(data: dict[str, Any], customer_id: UUID) -> Any:
    """Erase the customer's personal data (and that of customers merged into it)

    Their data keys are destroyed: every message, note, name and address of theirs reads
    `[erased]` from now on, in every view, export and replay; who did what, when, on which
    channel, and the SLA figures stay. It cannot be undone. An erased customer's addresses
    are free: a new contact from one starts a new customer.
    """
    return execute(
        lambda claim: application().erase_customer(
            customer_id,
            actor=current_principal().actor,
            reference=data["reference"],
            expected_version=expected_version(),
            claim=claim,
        )
    )


@blp.route("/<uuid:customer_id>/history", methods=["GET"])
@requires(READ)
@blp.arguments(HistoryQueryArgsSchema, location="query")
@blp.read(
    "getCustomerHistory",
    HistoryPageSchema,
    headers=("Parley-Projection-Position", "Parley-Projection-Lag"),
)
def customer_history(args: dict[str, Any], customer_id: UUID) -> Any:
    """The customer's timeline over every channel and conversation, merges included"""
    application().get_customer(customer_id)  # 404 for an unknown customer
    if (moment := args.get("as_of")) is not None:
        with as_of_store("history", moment) as (store, meta):
            page = customer_timeline(
                store, str(customer_id), after=args["after"], limit=args["limit"]
            )
    else:
        meta = catch_up("history", args.get("min_position"))
        page = customer_timeline(
            read_store(), str(customer_id), after=args["after"], limit=args["limit"]
        )
    return {**page, "projection": meta}, 200, headers_for(meta)
