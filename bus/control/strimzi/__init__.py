"""Strimzi custom resources generated from the catalogue, the policy and the subscriptions: one
`KafkaUser` per principal with its ACLs (users.py), one `KafkaTopic` per topic (topics.py)."""
