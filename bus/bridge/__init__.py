"""The webhook bridge: an agency's deliveries, verified, POSTed to a back office that takes HTTP
callbacks instead of running a Kafka client (docs/bridge.md); and a reference receiver for them."""
