"""Agency ids as the bus uses them: in policy sets, topic names, credential and key file names.

Checked wherever one comes in from outside (the CLI), so that a crafted id can never name a file
outside its folder (`../x`), a topic of another agency, or one of the bus's own principals.
"""

import re

from bus.control.service_principals import service_usernames
from bus.errors import ConfigError
from bus.policy.documents import RESERVED_PREFIX
from bus.util.shown_values import shown

# As bus/policy/documents.py requires of Agency.id and Purpose.code.
_IDENTIFIER = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
_SHAPE = "2-63 of a-z 0-9 -, starting with a letter or digit"


def check_agency_id(value: str) -> str:
    """`value` if it may name an agency (and so its files and topics); ConfigError if not, or if it
    is reserved for the bus."""
    if not _IDENTIFIER.fullmatch(value):
        raise ConfigError(f"{shown(value)} is not an agency id ({_SHAPE}, e.g. tax-by)")
    if value.startswith(RESERVED_PREFIX):
        raise ConfigError(
            f"{value!r}: agency ids may not start with {RESERVED_PREFIX!r} (the bus's own)"
        )
    if value in service_usernames():
        raise ConfigError(f"{value!r} is one of the bus's own service principals, not an agency")
    return value


def check_purpose_code(value: str) -> str:
    """`value` if it has the shape of a purpose code (it names delivery topics); ConfigError if
    not."""
    if not _IDENTIFIER.fullmatch(value):
        raise ConfigError(f"{shown(value)} is not a purpose code ({_SHAPE}, e.g. tax-residence)")
    return value
