"""`bus enforce --workers N`: N enforcer processes of one consumer group on this host.

Why processes: the enforcer's cost is Python CPU (verification, policy, disclosure), which one
interpreter runs on one core; Kafka's consumer group spreads the ingress partitions over the
workers, and each worker's transactions are its own (KIP-447 fencing by group generation). A
worker holds every partition it is given alone, so the ingress topics' partition count bounds the
useful workers (6 by default: 6 workers at most, all busy only if the load spreads over keys).

The parent only supervises: it starts the workers (spawned, so no Kafka client state is forked),
passes SIGTERM/Ctrl-C on, and restarts a worker that died, after a pause, so a crash costs a
rebalance and not the host's share of the work. Worker i is instance `<host>.w<i>` (its
transactional id's suffix: a restarted worker fences its predecessor's open transaction at once)
and serves its metrics and /healthz on metrics port + i.
"""

import asyncio
import logging
import multiprocessing
import signal
import time
from dataclasses import dataclass, replace
from multiprocessing.process import BaseProcess
from types import FrameType

from prometheus_client import CollectorRegistry

from bus.enforcer.health import EnforcerHealth
from bus.enforcer.metrics import EnforcerMetrics
from bus.enforcer.runtime import EnforcerConfig, run_enforcer
from bus.kafka.connection import KafkaConnection
from bus.util.logs import LogFormat, configure_logging
from bus.util.metrics_endpoint import serve_metrics

log = logging.getLogger(__name__)
RESTART_AFTER_S = 5.0  # a worker that died is started again after this
STOP_TIMEOUT_S = 60.0  # a worker still running this long after SIGTERM is killed


@dataclass(frozen=True)
class Worker:
    """One enforcer process: its number, connection, configuration and observability."""

    index: int
    connection: dict[str, str | None]  # KafkaConnection.to_json_dict(): picklable
    config: EnforcerConfig
    metrics_port: int  # 0: none
    log_format: LogFormat
    log_level: int

    @property
    def name(self) -> str:
        """The worker's instance name, as its logs and transactional id show it."""
        return self.config.instance or f"w{self.index}"


def workers(
    count: int,
    connection: KafkaConnection,
    config: EnforcerConfig,
    metrics_port: int,
    log_format: LogFormat,
    log_level: int,
    instance: str,
) -> list[Worker]:
    """`count` workers as `<instance>.w<i>`, worker i's metrics on `metrics_port` + i."""
    return [
        Worker(
            i,
            connection.to_json_dict(),
            replace(config, instance=f"{instance}.w{i}"),
            metrics_port + i if metrics_port else 0,
            log_format,
            log_level,
        )
        for i in range(count)
    ]


def run_worker(worker: Worker) -> None:
    """One enforcer until SIGTERM or Ctrl-C: logging, metrics, /healthz, the loop."""
    configure_logging(worker.log_format, worker.log_level)
    registry = CollectorRegistry()
    metrics = EnforcerMetrics(registry)
    health = EnforcerHealth(registry)
    if worker.metrics_port:
        serve_metrics(worker.metrics_port, registry, health.healthz)
    connection = KafkaConnection.from_json_dict(worker.connection)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_enforcer(connection, worker.config, stop, metrics, health)

    asyncio.run(main())


def supervise(all_workers: list[Worker]) -> None:
    """Run every worker in a process of its own until SIGTERM or Ctrl-C, restarting one that
    dies; then stop them all (each finishes or aborts its open transaction)."""
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    running: dict[int, BaseProcess] = {}
    restart_at: dict[int, float] = {w.index: 0.0 for w in all_workers}
    try:
        while not stopping:
            for worker in all_workers:
                process = running.get(worker.index)
                if process is not None and not process.is_alive():
                    log.error(
                        "enforcer worker %s ended (exit code %s); starting it again in %.0f s",
                        worker.name,
                        process.exitcode,
                        RESTART_AFTER_S,
                    )
                    del running[worker.index]
                    restart_at[worker.index] = time.monotonic() + RESTART_AFTER_S
                if worker.index not in running and time.monotonic() >= restart_at[worker.index]:
                    running[worker.index] = process = context.Process(
                        target=run_worker, args=(worker,), name=f"enforcer-{worker.name}"
                    )
                    process.start()
                    log.info("enforcer worker %s started (pid %s)", worker.name, process.pid)
            time.sleep(0.5)
    finally:
        for process in running.values():
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: the worker finishes its transaction
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in running.values():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.error("enforcer worker %s did not stop in time: killed", process.name)
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
