"""Resolve the pinned Kafka broker jars from Maven Central into a cache folder outside git."""

import hashlib
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from bus.devenv.prerequisites import require_maven
from bus.errors import BrokerError
from bus.kafka.settings import KafkaSettings
from bus.util.paths import DEPLOY_DIR

POM = DEPLOY_DIR / "kafka" / "pom.xml"
_MAVEN_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
_COMPLETE_MARKER = ".complete"


def pinned_kafka_version(pom: Path = POM) -> str:
    """The Kafka version pinned in deploy/kafka/pom.xml: the single place it is written."""
    root = ET.parse(pom).getroot()  # noqa: S314 - our own pom from the source tree
    node = root.find("m:properties/m:kafka.version", _MAVEN_NS)
    if node is None or not (node.text or "").strip():
        raise BrokerError(
            f"{pom}: <properties><kafka.version> is missing; pin a Kafka version there"
        )
    return (node.text or "").strip()


def libs_dir(settings: KafkaSettings) -> Path:
    """Where the pinned version's jars are cached: one folder per content of deploy/kafka/pom.xml,
    so that an added artifact (a tool) is fetched rather than missed by a cache that looks whole."""
    pom_digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    return settings.cache_dir / pinned_kafka_version() / f"libs-{pom_digest}"


def jars_present(settings: KafkaSettings) -> bool:
    """Whether the cache holds a complete download of the pinned version's jars."""
    return (libs_dir(settings) / _COMPLETE_MARKER).exists()


def provision_jars(settings: KafkaSettings) -> Path:
    """Return the folder of broker jars, running Maven once if the cache does not have them yet.

    Maven writes into a temporary folder that is renamed when complete, so an interrupted download
    never leaves a half-filled cache that looks valid.
    """
    target = libs_dir(settings)
    if jars_present(settings):
        return target
    mvn = require_maven()
    staging = target.with_name(f"{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    command = [
        mvn,
        "-B",
        "-q",
        "--no-transfer-progress",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BrokerError(f"Maven could not resolve the Kafka jars ({' '.join(command)}):\n{tail}")
    if not any(staging.glob("kafka_2.13-*.jar")):
        raise BrokerError(f"Maven finished but {staging} holds no kafka_2.13 jar; check {POM}")
    (staging / _COMPLETE_MARKER).touch()
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target
