"""Checks for the programs the broker needs, each failing with one line that says what to install."""

import re
import shutil
import subprocess

from bus.errors import PrerequisiteMissingError

MIN_JAVA = 17


def java_major_version(java: str) -> int:
    """The major version `java -version` reports (it prints to stderr, e.g. `version "17.0.15"`)."""
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not found:
        raise PrerequisiteMissingError(f"could not read the Java version from `{java} -version`")
    major = int(found.group(1))
    # Java 8 and older report "1.8".
    return int(found.group(2) or 0) if major == 1 else major


def require_java() -> str:
    """The path of a Java 17+ `java`; PrerequisiteMissingError saying what to install if none."""
    java = shutil.which("java")
    if java is None:
        raise PrerequisiteMissingError(
            f"Java {MIN_JAVA}+ not found on PATH: install a JDK or JRE {MIN_JAVA} or newer "
            "(Debian: apt-get install openjdk-17-jre-headless)"
        )
    major = java_major_version(java)
    if major < MIN_JAVA:
        raise PrerequisiteMissingError(
            f"Java {major} found at {java}, but Kafka 4 needs Java {MIN_JAVA}+: install a newer JDK"
        )
    return java


def require_maven() -> str:
    """The path of `mvn`; PrerequisiteMissingError saying what to install if it is missing."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PrerequisiteMissingError(
            "Maven not found on PATH: it fetches the Kafka jars once; install it "
            "(Debian: apt-get install maven)"
        )
    return mvn
