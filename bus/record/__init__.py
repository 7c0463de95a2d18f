"""The audit record and the pseudonyms in it: one definition below both the enforcer, which writes
audit records, and the audit trail, which reads them (and the control plane, which audits its
registry decisions). Neither reaches into the other for the format."""
