"""A throwaway Elasticsearch 8 node on loopback ports, for the test suite and benchmarks.

Nothing is installed by hand: the integ-test zip of Elasticsearch (the server with only the
transport, security and APM modules; no bundled JDK, no plugins) is fetched from Maven Central
with `mvn dependency:copy` into `.cache/elasticsearch/` (git-ignored, kept between runs),
unpacked there once, and started on a Debian JDK (Elasticsearch 8 runs on Java 17 or later).
Each node gets its own configuration, data and log directories in a temporary directory; when
run as root it runs as the unprivileged system user `childindex-es` (Elasticsearch refuses to
run as root), created on first use.

The version is pinned here and nowhere else: ES_VERSION.
"""

from __future__ import annotations

import atexit
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from index.elastic import ElasticSearch, ElasticSettings

# The newest 8.x on Maven Central when this was written (maven-metadata.xml `<release>`).
ES_VERSION = "8.19.21"
ARTIFACT = f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{ES_VERSION}:zip"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
RUN_AS = "childindex-es"
MIN_JAVA = 17
REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "elasticsearch"
# Where the distribution is copied when the clone itself is in a folder only root can enter.
SHARED_DIST = Path("/var/tmp/childindex-es")
START_TIMEOUT_S = 180.0

# A single loopback node for tests: no security (loopback only, throwaway data), no disk
# watermarks (a nearly full CI disk must not turn indices read-only), no auto-created indices.
# Only settings of the modules the integ-test zip has: an unknown setting stops the node.
NODE_SETTINGS: dict[str, object] = {
    "cluster.name": "childindex-test",
    "discovery.type": "single-node",
    "network.host": "127.0.0.1",
    "xpack.security.enabled": False,
    "xpack.security.http.ssl.enabled": False,
    "xpack.security.transport.ssl.enabled": False,
    "cluster.routing.allocation.disk.threshold_enabled": False,
    "action.auto_create_index": False,
    "action.destructive_requires_name": False,
}


class ElasticsearchUnavailable(RuntimeError):
    """The throwaway node could not be fetched or started; the message says why."""


@dataclass(frozen=True)
class RunningElasticsearch:
    url: str
    transport_port: int
    pid: int
    base_dir: Path


def _java_home() -> Path:
    """A Debian JDK of at least MIN_JAVA: $ES_JAVA_HOME if set, else default-java, else the
    newest /usr/lib/jvm/java-N-openjdk-*."""
    if configured := os.environ.get("ES_JAVA_HOME"):
        return Path(configured)
    candidates = [Path("/usr/lib/jvm/default-java")]
    versions = []
    for path in Path("/usr/lib/jvm").glob("java-*-openjdk-*"):
        try:
            versions.append((int(path.name.split("-")[1]), path))
        except ValueError:
            continue
    candidates += [p for v, p in sorted(versions, reverse=True) if v >= MIN_JAVA]
    for home in candidates:
        if (home / "bin" / "java").exists() and _java_major(home) >= MIN_JAVA:
            return home.resolve()
    raise ElasticsearchUnavailable(
        f"no Java {MIN_JAVA}+ runtime under /usr/lib/jvm: install the Debian package "
        "default-jre-headless (the test command does this)"
    )


def _java_major(home: Path) -> int:
    release = home / "release"
    if release.exists():
        for line in release.read_text().splitlines():
            if line.startswith("JAVA_VERSION="):
                return int(line.split("=", 1)[1].strip('"').split(".")[0])
    return 0


def _fetch_zip() -> Path:
    archive = CACHE / f"elasticsearch-{ES_VERSION}.zip"
    if archive.exists():
        return archive
    if shutil.which("mvn") is None:
        raise ElasticsearchUnavailable("`mvn` not found: install the Debian package maven")
    CACHE.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mvn", "-q", "-B", f"-Dmaven.repo.local={CACHE.parent / 'm2'}",
         f"{DEPENDENCY_PLUGIN}:copy", f"-Dartifact={ARTIFACT}", f"-DoutputDirectory={CACHE}"],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0 or not archive.exists():
        tail = (result.stdout + result.stderr)[-2000:]
        raise ElasticsearchUnavailable(f"could not fetch {ARTIFACT} from Maven Central: {tail}")
    return archive


def distribution() -> Path:
    """The unpacked distribution, fetched and unpacked on first use."""
    home = CACHE / f"elasticsearch-{ES_VERSION}"
    if (home / ".unpacked").exists():
        return home
    archive = _fetch_zip()
    staging = Path(tempfile.mkdtemp(prefix="unpack-", dir=CACHE))
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            target = Path(zipped.extract(info, staging))
            # zipfile drops Unix modes; the launch scripts need their execute bits.
            if mode := info.external_attr >> 16:
                target.chmod(mode & 0o777)
    [unpacked] = staging.iterdir()
    shutil.rmtree(home, ignore_errors=True)
    unpacked.rename(home)
    staging.rmdir()
    (home / ".unpacked").touch()
    return home


def _reachable_by(path: Path, uid: int) -> bool:
    """Whether `uid` can traverse every folder down to `path` (a clone under a private folder,
    such as one made by mktemp, cannot be reached by the unprivileged user)."""
    for folder in [path, *path.parents]:
        info = folder.stat()
        if info.st_uid != uid and not info.st_mode & stat.S_IXOTH:
            return False
    return True


def _runnable_distribution(home: Path, owner: pwd.struct_passwd | None) -> Path:
    """`home`, or a read-only copy of it in a shared place the unprivileged user can reach."""
    if owner is None or _reachable_by(home, owner.pw_uid):
        return home
    shared = SHARED_DIST / home.name
    if not (shared / ".unpacked").exists():
        SHARED_DIST.mkdir(mode=0o755, parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="copy-", dir=SHARED_DIST))
        shutil.copytree(home, staging / home.name, symlinks=True)
        for folder in [staging, *(p for p in staging.rglob("*") if p.is_dir())]:
            folder.chmod(folder.stat().st_mode | 0o755)
        shutil.rmtree(shared, ignore_errors=True)
        (staging / home.name).rename(shared)
        staging.rmdir()
    return shared


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged user to run as when we are root (created if missing), else None."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(RUN_AS)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_AS],
            check=True, capture_output=True,
        )
        return pwd.getpwnam(RUN_AS)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health?wait_for_status=yellow&timeout=1s",
                                    timeout=5) as response:
            return json.load(response).get("status") in {"green", "yellow"}
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    # The launcher runs the server JVM as its child in the same (new) session: signal the group.
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def throwaway_elasticsearch(heap_mb: int = 512) -> Iterator[RunningElasticsearch]:
    """Start a fresh single node in a temporary directory; stop it and remove the directory
    afterwards."""
    owner = _run_as()
    home = _runnable_distribution(distribution(), owner)
    java_home = _java_home()
    base = Path(tempfile.mkdtemp(prefix="childindex-es-"))
    config = base / "config"
    shutil.copytree(home / "config", config)
    (base / "data").mkdir()
    (base / "logs").mkdir()
    (base / "tmp").mkdir()
    http_port, transport_port = _free_port(), _free_port()
    settings = {**NODE_SETTINGS, "http.port": http_port, "transport.port": transport_port,
                "path.data": str(base / "data"), "path.logs": str(base / "logs")}
    (config / "elasticsearch.yml").write_text(
        "".join(f"{key}: {json.dumps(value)}\n" for key, value in settings.items())
    )
    if owner is not None:
        for path in [base, *base.rglob("*")]:
            os.chown(path, owner.pw_uid, owner.pw_gid)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "ES_JAVA_HOME": str(java_home),
        "ES_PATH_CONF": str(config),
        "ES_TMPDIR": str(base / "tmp"),
        "ES_JAVA_OPTS": f"-Xms{heap_mb}m -Xmx{heap_mb}m",
        "HOME": str(base),
    }
    console = (base / "console.log").open("wb")
    process = subprocess.Popen(
        [str(home / "bin" / "elasticsearch")], env=env, cwd=base, stdout=console,
        stderr=subprocess.STDOUT, start_new_session=True,
        user=owner.pw_uid if owner else None, group=owner.pw_gid if owner else None,
        extra_groups=[] if owner else None,
    )
    url = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                console.flush()
                tail = (base / "console.log").read_text(errors="replace")[-3000:]
                raise ElasticsearchUnavailable(f"Elasticsearch {ES_VERSION} did not start: {tail}")
            time.sleep(0.5)
        yield RunningElasticsearch(url=url, transport_port=transport_port, pid=process.pid,
                                   base_dir=base)
    finally:
        _stop(process)
        console.close()
        shutil.rmtree(base, ignore_errors=True)


_shared = ExitStack()
_shared_url: list[str] = []


def shared_node_url() -> str:
    """One node per process, started on first use and stopped at exit (or by stop_shared_node):
    the test suite's session fixture and its backend factories share it. With
    CHILDINDEX_TEST_ES_URL set, that running node is used instead (quick local runs)."""
    if not _shared_url:
        if existing := os.environ.get("CHILDINDEX_TEST_ES_URL"):
            _shared_url.append(existing.rstrip("/"))
        else:
            _shared_url.append(_shared.enter_context(throwaway_elasticsearch()).url)
            atexit.register(stop_shared_node)
    return _shared_url[0]


def stop_shared_node() -> None:
    _shared.close()
    _shared_url.clear()


def throwaway_backend(engine: Engine, **settings: Any) -> ElasticSearch:
    """An Elasticsearch backend over `engine` on the shared node, in indices and aliases of its
    own (a fresh name prefix), refreshing at once: what tests need."""
    options: dict[str, Any] = {
        "hosts": [shared_node_url()], "index_prefix": f"t{uuid.uuid4().hex[:12]}",
        "replicas": 0, "refresh": "true", "request_timeout": 30.0, "swap_grace_seconds": 0.5,
        **settings,
    }
    return ElasticSearch(engine, ElasticSettings(**options))


__all__ = [
    "ES_VERSION",
    "ElasticsearchUnavailable",
    "RunningElasticsearch",
    "distribution",
    "shared_node_url",
    "stop_shared_node",
    "throwaway_backend",
    "throwaway_elasticsearch",
]
