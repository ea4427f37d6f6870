"""Parents' requests about their child's data: correction (Art. 16), deletion (Art. 17),
a formal inzage request (Art. 15) and questions. Every request gets a reference
(OL-2026-0042), an answer deadline of one calendar month (Art. 12(3)) and one member of
staff who handles it; the conversation about it is kept with it.

One home, in modules over the same rules:
- rules: the table of kinds and `allowed(actor, request, now)`, the one authorization
  rule both the staff card (its buttons) and every command (its guard) use;
- drafts: what a parent types, validated;
- routing: who handles a request and who is told;
- parent: what a guardian does (create, add a message, withdraw);
- views: what a guardian sees;
- flows.staff: what staff do, over the same rules."""

from flows.requests.drafts import (
    CORRECTABLE_FIELDS,
    DELETABLE,
    DELETION_OTHER,
    DELETION_PHOTOS,
    EARLIEST_BIRTH,
    FORM_FIELDS,
    GENDERS,
    MAX_ACHTERNAAM,
    MAX_NAME,
    MAX_TEXT,
    MAX_TUSSENVOEGSEL,
    clean_text,
    parse_date,
    split_surname,
    stored_value,
    today,
    typed_question,
    validate_correction,
)
from flows.requests.forms import Step, offer
from flows.requests.parent import (
    add_message,
    check_correction,
    create,
    create_access_request,
    create_correction,
    create_deletion,
    create_question,
    next_reference,
    withdraw,
)
from flows.requests.routing import (
    Assignee,
    assignee_of,
    director,
    notify_assignee,
    route,
)
from flows.requests.rules import (
    DECIDED_STATUSES,
    KINDS,
    OPEN_STATUSES,
    WORKING_STATUSES,
    Action,
    Kind,
    UnknownKind,
    allowed,
    due,
    kind_of,
    require,
)
from flows.requests.views import (
    MessageView,
    RequestSummary,
    RequestView,
    conversation,
    get_for_guardian,
    guardian_scoped,
    list_for_guardian,
    names,
    open_requests_for_pupil,
    visible_to,
)

__all__ = [
    "CORRECTABLE_FIELDS",
    "DECIDED_STATUSES",
    "DELETABLE",
    "DELETION_OTHER",
    "DELETION_PHOTOS",
    "EARLIEST_BIRTH",
    "FORM_FIELDS",
    "GENDERS",
    "KINDS",
    "MAX_ACHTERNAAM",
    "MAX_NAME",
    "MAX_TEXT",
    "MAX_TUSSENVOEGSEL",
    "OPEN_STATUSES",
    "WORKING_STATUSES",
    "Action",
    "Assignee",
    "Kind",
    "MessageView",
    "RequestSummary",
    "RequestView",
    "Step",
    "UnknownKind",
    "add_message",
    "allowed",
    "assignee_of",
    "check_correction",
    "clean_text",
    "conversation",
    "create",
    "create_access_request",
    "create_correction",
    "create_deletion",
    "create_question",
    "director",
    "due",
    "get_for_guardian",
    "guardian_scoped",
    "kind_of",
    "list_for_guardian",
    "names",
    "next_reference",
    "notify_assignee",
    "offer",
    "open_requests_for_pupil",
    "parse_date",
    "require",
    "route",
    "split_surname",
    "stored_value",
    "today",
    "typed_question",
    "validate_correction",
    "visible_to",
    "withdraw",
]
