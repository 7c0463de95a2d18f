"""faust's aiokafka transport, reading only committed records.

faust reads `read_uncommitted` unless it runs exactly-once, which we do not rely on (see app.py).
The enforcer writes the audit topic in Kafka transactions; a transaction it aborts (a crash, a
fenced zombie) leaves records that a committed retry writes again. Read uncommitted, the watch
would count those decisions twice and could raise an alert on decisions that never happened.
The one setting faust does not expose is set here, on the consumer faust builds, before it starts
(tests/integration/test_watch.py writes an aborted transaction and checks it is not counted)."""

from typing import Any

from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka


class _ReadCommittedThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka keeps the constructor's isolation_level here and hands it to its fetcher in
        # start(); faust has not started the consumer yet.
        consumer._isolation_level = "read_committed"
        return consumer


class _ReadCommittedConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ReadCommittedThread:
        return _ReadCommittedThread(self, loop=self.loop, beacon=self.beacon)


class ReadCommittedTransport(faust_aiokafka.Transport):
    """faust's `kafka://` transport whose consumer reads committed records only."""

    Consumer = _ReadCommittedConsumer
