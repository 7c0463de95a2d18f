"""The audit trail's store: decisions indexed from the audit topic, hash-chained, checkpointed."""
