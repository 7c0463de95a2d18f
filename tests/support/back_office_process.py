"""A back office in its own process, for the consumer crash test.

    python -m tests.support.back_office_process CONFIG

CONFIG (JSON): the connection (`KafkaConnection.to_json_dict()`), consumer, producer_public_pem,
purpose, event_type, and the back office's database: inbox ("sqlite", with its file in
`database`; or "postgres", with `dsn`). The handler appends each event to the table `applied`
(no unique key, so applying an event twice would show) and takes a moment, as a real back office
would. On SIGTERM it stops cleanly and prints its counts as JSON.
"""

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from bus.kafka.connection import KafkaConnection
from bus.keys import KeyStore
from bus.keys.keystore import public_key_from_pem
from consumers import Consumer, Inbox, PostgresInbox, ReleasedEvent, SqliteInbox
from tests.support.inbox_databases import Connection, execute

HANDLER_SECONDS = 0.002


async def apply(event: ReleasedEvent[Any], db: Connection) -> None:
    execute(db, "INSERT INTO applied VALUES (?, ?)", (event.id, event.data.subject_id))
    await asyncio.sleep(HANDLER_SECONDS)


def open_inbox(config: dict[str, Any]) -> Inbox[Any]:
    if config["inbox"] == "postgres":
        return PostgresInbox(config["dsn"])
    return SqliteInbox(Path(config["database"]))


async def main(config: dict[str, Any]) -> None:
    inbox = open_inbox(config)
    with inbox.transaction() as db:
        db.execute("CREATE TABLE IF NOT EXISTS applied (event_id TEXT, person_id TEXT)")
    keys = KeyStore([public_key_from_pem("muni-muc", config["producer_public_pem"].encode())])
    connection = KafkaConnection.from_json_dict(config)  # protocol and CA too
    consumer = Consumer(config["consumer"], connection, keys, inbox)
    consumer.subscribe(config["event_type"], config["purpose"], apply)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await consumer.run(stop)
    print(json.dumps({"applied": consumer.stats.applied, "duplicates": consumer.stats.duplicates}))


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
