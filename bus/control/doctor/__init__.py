"""`bus doctor`: checks a running deployment against the bus's own rules and names each problem.

One module per check; each returns its findings and never raises (a check that cannot run is a
finding too: the doctor must not report health it could not see). The checks run as the
operator, who may read the brokers' configuration, the topics' configuration, ACLs, the policy
and the enforcer's offsets, but no personal data.
"""
