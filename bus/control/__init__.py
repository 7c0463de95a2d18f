"""The bus's control plane: topics and their topology, the policy and subscription topics, ACLs and
the principals they name, credentials. What decides who may talk to whom on the broker."""
