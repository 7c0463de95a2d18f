"""The data-subject report in a citizen's words: agency names instead of ids, reasons as
sentences, times in local time."""

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

# Why an agency did not receive data about the person, for the person.
_REASONS = {
    "NO_GRANT": "the law gives this agency no right to this information",
    "PURPOSE_MISMATCH": "the agency asked for a purpose the law does not allow it for",
    "OUT_OF_JURISDICTION": "you do not live in the area this agency is responsible for",
    "NOT_COMPETENT": "the agency is not responsible for this matter",
    "GRANT_NOT_YET_VALID": "the agency's right to this information had not started yet",
    "GRANT_EXPIRED": "the agency's right to this information had ended",
    "DISCLOSURE_BLOCKED": "a block on disclosing your data is in force",
    "NO_INTEREST": "the agency has registered no case about you for this purpose",
    "INTEREST_HELD": "the agency has registered a case about you",
    "PRODUCER_NOT_AUTHORITATIVE": "the sender is not the official source of this information",
    "UNKNOWN_CONSUMER": "the agency is not registered for this exchange",
    "UNKNOWN_PURPOSE": "the purpose is not one the law knows",
}
_QUARANTINE = "the message could not be verified as genuine and was stopped"


def reason_sentence(outcome: str, reasons: list[str]) -> str:
    """Why nothing was passed on, as a sentence."""
    if outcome == "QUARANTINED":
        return _QUARANTINE.capitalize() + "."
    said = [_REASONS.get(r, r.replace("_", " ").lower()) for r in reasons] or ["no reason recorded"]
    return "; ".join(said).capitalize() + "."


def agency_name(agency: str | None, names: Mapping[str, str]) -> str:
    """The agency's name as the policy set gives it (its id if the set does not name it)."""
    if agency is None:
        return "no agency (the message was stopped for everyone)"
    return names.get(agency, agency)


def local_time(rfc3339: str | None, zone: ZoneInfo) -> str:
    """An RFC 3339 time as a local date and time, e.g. 3 December 2026, 17:05."""
    if not rfc3339:
        return ""
    moment = _moment(rfc3339, zone)
    return f"{moment.day} {moment:%B %Y, %H:%M} ({moment.tzname()})"


def erasure_sentence(
    state: str, erase_by: str | None, erased_at: str | None, zone: ZoneInfo
) -> str:
    """Whether the agency's copy is erased, as a sentence (states of bus/audit/erasure_status.py)."""
    if state == "erased":
        return f"Erased on {_local_date(erased_at, zone)}, as the agency reports."
    if state == "due":
        return f"To be erased by {_local_date(erase_by, zone)}."
    if state == "overdue":
        return (
            f"Should have been erased by {_local_date(erase_by, zone)}; "
            "the agency has not reported it erased."
        )
    return "The date by which it must be erased is not known to the audit trail."


def _local_date(rfc3339: str | None, zone: ZoneInfo) -> str:
    if not rfc3339:
        return "an unknown date"
    moment = _moment(rfc3339, zone)
    return f"{moment.day} {moment:%B %Y}"


def _moment(rfc3339: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).astimezone(zone)
