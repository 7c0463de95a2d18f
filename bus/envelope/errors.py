"""Why a token was refused: one class per failure, all under EnvelopeError, each message saying what."""

from bus.errors import BusError


class EnvelopeError(BusError):
    """A signed event could not be issued, presented or verified. `reason` is a stable machine code."""

    reason = "INVALID_ENVELOPE"


class MalformedTokenError(EnvelopeError):
    """The bytes are not an SD-JWT: not ASCII, wrong number of parts, bad base64url or JSON."""

    reason = "MALFORMED"


class BadSignatureError(EnvelopeError):
    """The issuer signature does not verify, or uses an algorithm other than EdDSA."""

    reason = "BAD_SIGNATURE"


class UnknownKeyError(EnvelopeError):
    """The signing key is not among the known agency keys, or belongs to another agency."""

    reason = "UNKNOWN_KEY"


class DigestMismatchError(EnvelopeError):
    """A disclosure for a field of the event hashes to no digest the issuer signed: it was altered."""

    reason = "DIGEST_MISMATCH"


class UnreferencedDisclosureError(EnvelopeError):
    """A disclosure hashes to no signed digest and is not even a field of the event: it was added."""

    reason = "UNREFERENCED_DISCLOSURE"


class DuplicateDisclosureError(EnvelopeError):
    """The same disclosure, digest or field name occurs more than once."""

    reason = "DUPLICATE_DISCLOSURE"


class MissingAttributeError(EnvelopeError):
    """A required envelope attribute (header or signed claim) is absent or empty."""

    reason = "MISSING_ATTRIBUTE"


class AttributeMismatchError(EnvelopeError):
    """A CloudEvents header disagrees with the signed attribute of the same name."""

    reason = "ATTRIBUTE_MISMATCH"


class UnknownTypeError(EnvelopeError):
    """The token names an event type or version that is not in the catalogue: the refusal of it,
    with its reason code. The catalogue's own lookup raises bus.catalog's UnknownEventTypeError,
    whose message (the known types and versions) this one carries."""

    reason = "UNKNOWN_TYPE"


class InvalidFieldError(EnvelopeError):
    """A signed field value does not satisfy the catalogue's schema for that field."""

    reason = "INVALID_FIELD"


class OversizedRecordError(EnvelopeError):
    """The record is larger than the bus accepts; it is not even parsed."""

    reason = "OVERSIZED"


class UnexpectedClaimError(EnvelopeError):
    """The token or record carries a claim, header member or record header the bus does not issue:
    nothing unchecked may ride along to consumers, so it is refused rather than dropped."""

    reason = "UNEXPECTED_CLAIM"


class TopicMismatchError(EnvelopeError):
    """The record arrived on another event type's ingress topic than the type it signs."""

    reason = "TOPIC_MISMATCH"


class PartitionMismatchError(EnvelopeError):
    """The record is not on the partition Kafka's default partitioner gives its key: the memory of
    accepted events is per partition, so elsewhere a republication would escape it."""

    reason = "PARTITION_MISMATCH"
