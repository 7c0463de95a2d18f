"""One root for every error the bus raises on purpose, so callers can catch `BusError` alone.

The tree of the bus's errors, each with the module it lives in (the SDKs' included: they are the
bus's too). tests/unit/test_error_tree.py reads this drawing and checks it against the classes.

    BusError                                    bus.errors
        ConfigError                             bus.errors
            PolicyError                         bus.policy.errors
                PolicyFileError                 bus.policy.errors
            UnknownAgencyError                  bus.control.offboarding
            InterestTopicMissingError           consumers.interest
        PrerequisiteMissingError                bus.errors
        BrokerError                             bus.errors
            TopicNotFoundError                  bus.kafka.reading
            TopicsNotProvisionedError           bus.control.broker_setup
        PostgresError                           bus.devenv.postgres
        PackageInstallError                     bus.devenv.debian_packages
        CatalogError                            bus.catalog.errors
            UnknownEventTypeError               bus.catalog.errors
        EnvelopeError                           bus.envelope.errors
            MalformedTokenError                 bus.envelope.errors
            BadSignatureError                   bus.envelope.errors
            UnknownKeyError                     bus.envelope.errors
            DigestMismatchError                 bus.envelope.errors
            UnreferencedDisclosureError         bus.envelope.errors
            DuplicateDisclosureError            bus.envelope.errors
            MissingAttributeError               bus.envelope.errors
            AttributeMismatchError              bus.envelope.errors
            UnknownTypeError                    bus.envelope.errors
            InvalidFieldError                   bus.envelope.errors
            OversizedRecordError                bus.envelope.errors
            UnexpectedClaimError                bus.envelope.errors
            TopicMismatchError                  bus.envelope.errors
            PartitionMismatchError              bus.envelope.errors
        EventFileError                          bus.policy.explain_input
        ContractError                           bus.contracts.errors
        AuditRecordError                        bus.record.audit_record
        ErasureRecordError                      bus.record.erasure_record
        MarkerError                             bus.record.interest_marker
        TokenRefusedError                       bus.audit.access
        CursorError                             bus.audit.query
        SignInNeededError                       bus.audit.api.console
        ProducerError                           producers.errors
            ProducerConfigError                 producers.errors
            ProducerNotStartedError             producers.errors
            InvalidEventIdError                 producers.errors
            ProducerUnavailableError            producers.errors
            ProducerNotAuthorizedError          producers.errors
                ProgressTopicUnavailableError   producers.register_adapter.errors
            PublishError                        producers.errors
            RegisterFileError                   producers.register_adapter.errors
            AdapterFencedError                  producers.register_adapter.errors
        ConsumerError                           consumers.errors
            ConsumerNotAuthorizedError          consumers.errors
            WithheldFieldError                  consumers.errors
            RejectDelivery                      consumers.errors
            DeliveryRefusedError                consumers.delivery_check
        BridgeError                             bus.bridge.errors
            WebhookSignatureError               bus.bridge.webhook_signature

Some also derive from a built-in error, so that code catching that one keeps working: CursorError,
ProducerConfigError and InvalidEventIdError are ValueErrors, ProducerNotStartedError is a
RuntimeError, WithheldFieldError an AttributeError (it is raised by attribute access), and
MarkerError a ValueError.

Deliberately outside the tree: errors that never leave the code that raises them, because a caller
there turns them into one of the above or into an outcome.

    MalformedEncodingError      bus.util.encoding       a helper's ValueError; its callers turn it
                                                        into their own (MalformedTokenError, ...)
    _RepeatedMemberError        bus.util.encoding       private signal of the JSON member check
    DuplicateKeyError           bus.policy.yaml_lines   the loader turns it into PolicyFileError
    ProcessingFault             bus.enforcer.failures   marks any failure of the enforcer's own
                                                        work on a record for the retry plan
    _UnknownTopicError          bus.kafka.admin         private signal: a topic not known yet is
                                                        asked again, then a BrokerError
    StuckCallError              bus.enforcer.txn_producer  a librdkafka call past its watchdog:
                                                        the loop fails the transaction, a new
                                                        producer takes over
"""


class BusError(Exception):
    """Root of the bus's own errors. The message says what is wrong and what to do."""


class ConfigError(BusError):
    """A setting is missing or invalid; the message names the setting and what is expected."""


class PrerequisiteMissingError(BusError):
    """A program the bus needs (Java, Maven, PostgreSQL) is missing or too old."""


class BrokerError(BusError):
    """The local Kafka broker could not be provisioned, started, reached or stopped."""
