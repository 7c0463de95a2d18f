"""Writes a record whose header name is not UTF-8, as a hostile client can (the broker does not
check header names). aiokafka's C extension and librdkafka both refuse to write one, so this runs
in its own process with aiokafka's pure-Python record builder:

    AIOKAFKA_NO_EXTENSIONS=1 python -m tests.support.undecodable_header CONFIG TOPIC PARTITION
"""

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bus.kafka.connection import KafkaConnection


class _RawName(str):
    """A header name that the pure-Python builder writes as these raw bytes."""

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"\xff\xfe-not-utf-8"


async def main(config: dict[str, Any], topic: str, partition: int) -> None:
    connection = KafkaConnection.from_json_dict(config)  # protocol and CA too
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs())
    await producer.start()
    try:
        headers = [(_RawName("x"), b"P-4711-0815")]
        await producer.send_and_wait(
            topic, b"undecodable", key=b"k", partition=partition, headers=headers
        )
    finally:
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text()), sys.argv[2], int(sys.argv[3])))
