"""The Elasticsearch backend against a real Elasticsearch 8 node (started once per session).

What the search contract (tests/test_search_contract.py) does not cover: what the index holds,
an index per LA behind aliases, children moving LA, a rebuild with an alias swap while searches
run, the consistency check and its repair, cross-cluster search, and answering "unavailable"
(never partial results) when Elasticsearch is down, then recovering by itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import socket
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from typer.testing import CliRunner

from index import ChildRecord, add_children, outbox, transaction
from index import models as m
from index.elastic import ElasticSearch, ElasticSettings, make_client
from index.identifiers import Scheme, upn_check_letter
from index.search import SearchQuery, SearchUnavailable
from index.store import make_engine, upgrade
from ops.cli import app
from ops.elasticsearch import throwaway_backend

DOB = dt.date(2014, 5, 10)
UPN = upn_check_letter("801200005001") + "801200005001"


def record(given: str, family: str, dob: dt.date, la: str, postcode: str, **extra: object) -> ChildRecord:
    return ChildRecord.model_validate({
        "owning_la": la, "date_of_birth": dob, "gender": "male",
        "names": [{"given_name": given, "family_name": family}],
        "addresses": [{"line1": "1 High Street", "postcode": postcode}], **extra,
    })


CHILDREN = {
    "alex": record("Alexander", "Thompson", DOB, "823", "MK40 1AA",
                   identifiers=[{"scheme": "upn", "value": UPN}]),
    "oliver": record("Oliver", "Thompson", DOB, "823", "MK40 1AA"),
    "leeds": record("Alexander", "Thompson", DOB, "384", "LS6 2AB"),
    "amelia": record("Amelia", "Brown", dt.date(2016, 8, 21), "384", "LS6 3CD"),
    "kai": record("Kai", "Nakamura", dt.date(2012, 1, 30), "201", "N1 9GU"),
}
ALEX_QUERY = SearchQuery(family_name="Thompson", given_name="Alexander", date_of_birth=DOB)


def alex_in(la: str) -> SearchQuery:
    return dataclasses.replace(ALEX_QUERY, owning_la=la)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Engine, dict[str, int]]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    with transaction(engine) as session:
        ids = add_children(session, CHILDREN.values())
    yield engine, dict(zip(CHILDREN, ids, strict=True))
    engine.dispose()


@pytest.fixture
def backend(elasticsearch_url: str, store: tuple[Engine, dict[str, int]]) -> Iterator[ElasticSearch]:
    engine, ids = store
    es = throwaway_backend(engine, hosts=[elasticsearch_url])
    es.index_children(ids.values())
    yield es
    es.close()


def es_get(url: str, path: str) -> dict:
    with urllib.request.urlopen(f"{url}/{path}") as response:
        return json.load(response)


def set_store(engine: Engine, child_id: int, **values: object) -> None:
    with transaction(engine) as session:
        session.execute(update(m.Child).where(m.Child.id == child_id).values(**values))


# -- what the index holds -------------------------------------------------------------------


def test_index_holds_hashed_keys_and_nothing_readable(
    backend: ElasticSearch, elasticsearch_url: str, store: tuple[Engine, dict[str, int]]
) -> None:
    _engine, ids = store
    prefix = backend.settings.index_prefix
    mapping = es_get(elasticsearch_url, f"{prefix}-la-823/_mapping")
    [index] = mapping.values()
    assert set(index["mappings"]["properties"]) == {"child_id", "owning_la", "keys", "hash"}
    assert index["mappings"]["dynamic"] == "strict"
    doc = es_get(elasticsearch_url, f"{prefix}-la-823/_doc/{ids['alex']}")
    assert set(doc["_source"]) == {"child_id", "owning_la", "hash"}
    # The keys are searchable, but what the index can give back of them is numbers only.
    raw = json.dumps(es_get(elasticsearch_url, f"{prefix}-search/_search?size=100&docvalue_fields=keys"))
    for value in ("Thompson", "thompson", "TMSN", "MK40", "2014-05-10", "20140510", UPN):
        assert value not in raw
    keys = backend.documents([ids["alex"]])[ids["alex"]].keys
    assert keys and all(k.lstrip("-").isdigit() for k in keys)


# -- an index per LA behind aliases ---------------------------------------------------------


def test_one_index_per_la_behind_national_and_la_aliases(
    backend: ElasticSearch, elasticsearch_url: str, store: tuple[Engine, dict[str, int]]
) -> None:
    _engine, ids = store
    prefix = backend.settings.index_prefix
    aliases = es_get(elasticsearch_url, f"{prefix}-*/_alias")
    assert set(aliases) == {f"{prefix}-823-v1", f"{prefix}-384-v1", f"{prefix}-201-v1"}
    for index, entry in aliases.items():
        la = index.split("-")[1]
        assert set(entry["aliases"]) == {f"{prefix}-search", f"{prefix}-la-{la}"}
    national = {h.child_id for h in backend.search(ALEX_QUERY)}
    assert {ids["alex"], ids["oliver"], ids["leeds"]} <= national
    leeds_only = {h.child_id for h in backend.search(alex_in("384"))}
    assert leeds_only == {ids["leeds"]}


def test_child_moving_la_moves_index(
    backend: ElasticSearch, elasticsearch_url: str, store: tuple[Engine, dict[str, int]]
) -> None:
    engine, ids = store
    prefix = backend.settings.index_prefix
    set_store(engine, ids["alex"], owning_la="384")
    backend.index_children([ids["alex"]])
    assert es_get(elasticsearch_url, f"{prefix}-la-384/_doc/{ids['alex']}")["found"]
    with pytest.raises(urllib.error.HTTPError):
        es_get(elasticsearch_url, f"{prefix}-la-823/_doc/{ids['alex']}")
    in_384 = [h.child_id for h in backend.search(alex_in("384"))]
    assert ids["alex"] in in_384
    in_823 = [h.child_id for h in backend.search(alex_in("823"))]
    assert ids["alex"] not in in_823
    # A child moving to an LA with no index yet gets one.
    set_store(engine, ids["alex"], owning_la="935")
    backend.index_children([ids["alex"]])
    in_935 = [h.child_id for h in backend.search(alex_in("935"))]
    assert in_935 == [ids["alex"]]


def test_archived_child_leaves_the_index_when_reindexed(
    backend: ElasticSearch, store: tuple[Engine, dict[str, int]]
) -> None:
    engine, ids = store
    set_store(engine, ids["amelia"], status="archived")
    backend.index_children([ids["amelia"]])
    assert backend.documents([ids["amelia"]]) == {}
    assert backend.verify().in_index == len(ids) - 1


# -- rebuild with an alias swap -------------------------------------------------------------


def test_rebuild_swaps_aliases_while_searches_keep_answering(
    backend: ElasticSearch, elasticsearch_url: str, store: tuple[Engine, dict[str, int]]
) -> None:
    _engine, ids = store
    prefix = backend.settings.index_prefix
    by_upn = SearchQuery(identifier=(Scheme.UPN, UPN))
    failures: list[str] = []
    searches = 0
    done = threading.Event()

    def search_in_a_loop() -> None:
        nonlocal searches
        while not done.is_set():
            try:
                if [h.child_id for h in backend.search(by_upn)] != [ids["alex"]]:
                    failures.append("identifier search missed the child")
                if ids["leeds"] not in [h.child_id for h in backend.search(ALEX_QUERY)]:
                    failures.append("name search missed the child")
            except Exception as exc:  # any error during the rebuild is a failure
                failures.append(type(exc).__name__)
            searches += 1

    looping = threading.Thread(target=search_in_a_loop)
    looping.start()
    try:
        first = backend.rebuild()
        second = backend.rebuild()
    finally:
        done.set()
        looping.join()
    assert failures == []
    assert searches > 0
    assert (first.version, second.version) == (2, 3)
    assert second.children == len(ids)
    assert sorted(second.removed) == sorted(first.indices)
    aliases = es_get(elasticsearch_url, f"{prefix}-*/_alias")
    assert set(aliases) == {f"{prefix}-{la}-v3" for la in ("823", "384", "201")}
    assert all(len(entry["aliases"]) == 2 for entry in aliases.values())
    assert backend.verify().consistent
    # Incremental updates after a rebuild go to the new indices (through the LA alias).
    backend.remove_children([ids["kai"]])
    assert backend.search(SearchQuery(family_name="Nakamura", date_of_birth=dt.date(2012, 1, 30))) == []


# -- consistency check ----------------------------------------------------------------------


def test_verify_finds_and_repairs_drift(
    backend: ElasticSearch, elasticsearch_url: str, store: tuple[Engine, dict[str, int]]
) -> None:
    engine, ids = store
    assert backend.verify().consistent
    client = make_client(backend.settings)
    prefix = backend.settings.index_prefix
    client.delete(index=f"{prefix}-la-823", id=str(ids["oliver"]), refresh=True)  # missing
    set_store(engine, ids["amelia"], status="archived")  # extra
    with transaction(engine) as session:  # stale
        session.add(m.ChildAddress(child_id=ids["kai"], postcode="SW1A 1AA"))
    set_store(engine, ids["alex"], owning_la="384")  # misplaced
    report = backend.verify()
    assert (report.missing, report.extra, report.stale, report.misplaced) == (
        [ids["oliver"]], [ids["amelia"]], [ids["kai"]], [ids["alex"]])
    assert not report.repaired
    only_823 = backend.verify(owning_la="823")
    assert (only_823.missing, only_823.extra) == ([ids["oliver"]], [ids["alex"]])
    repaired = backend.verify(repair=True)
    assert repaired.repaired and not repaired.consistent
    assert backend.verify().consistent
    assert es_get(elasticsearch_url, f"{prefix}-la-384/_doc/{ids['alex']}")["found"]
    assert [h.child_id for h in backend.search(SearchQuery(family_name="Nakamura", postcode="SW1A 1AA"))] == [
        ids["kai"]]
    client.close()


def test_cli_rebuild_and_verify(
    elasticsearch_url: str, store: tuple[Engine, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, ids = store
    prefix = throwaway_backend(engine, hosts=[elasticsearch_url]).settings.index_prefix
    monkeypatch.setenv("CHILDINDEX_ES_HOSTS", elasticsearch_url)
    monkeypatch.setenv("CHILDINDEX_ES_INDEX_PREFIX", prefix)
    monkeypatch.setenv("CHILDINDEX_ES_REPLICAS", "0")
    db = ["--db", engine.url.render_as_string(hide_password=False)]
    runner = CliRunner()
    result = runner.invoke(app, ["index", "verify", *db])
    assert result.exit_code == 1, result.output
    assert f"missing {len(ids)}" in result.output
    result = runner.invoke(app, ["index", "rebuild", *db])
    assert result.exit_code == 0, result.output
    assert f"{len(ids)} children" in result.output
    set_store(engine, ids["kai"], status="archived")
    result = runner.invoke(app, ["index", "verify", "--repair", *db])
    assert result.exit_code == 0, result.output
    assert "extra 1" in result.output and "repaired" in result.output
    result = runner.invoke(app, ["index", "verify", *db])
    assert result.exit_code == 0 and "consistent" in result.output


# -- federation: cross-cluster search -------------------------------------------------------


def test_la_on_its_own_cluster_joins_through_cross_cluster_search(
    elasticsearch_url: str, store: tuple[Engine, dict[str, int]]
) -> None:
    engine, ids = store
    # The "remote" LA cluster is this same node, reached as remote cluster `loop` over its
    # transport port: a real cross-cluster search, on one node.
    remote = throwaway_backend(engine, hosts=[elasticsearch_url])
    remote.index_children([ids["leeds"], ids["amelia"]])  # LA 384's own cluster
    [node] = es_get(elasticsearch_url, "_nodes/_local/transport")["nodes"].values()
    client = make_client(ElasticSettings(hosts=[elasticsearch_url]))
    client.cluster.put_settings(persistent={
        "cluster.remote.loop.seeds": [node["transport"]["publish_address"]],
        "cluster.remote.loop.skip_unavailable": False,
    })
    national = throwaway_backend(
        engine, hosts=[elasticsearch_url], remote_clusters=[f"loop:{remote.la_alias('384')}"])
    try:
        national.index_children([ids["alex"], ids["oliver"], ids["kai"]])  # the national cluster
        found = {h.child_id for h in national.search(ALEX_QUERY)}
        assert {ids["alex"], ids["oliver"], ids["leeds"]} <= found
        assert [h.child_id for h in national.search(
            SearchQuery(family_name="Brown", given_name="Amelia", date_of_birth=dt.date(2016, 8, 21)))] == [
            ids["amelia"]]
        # Without the remote cluster, LA 384's children are not in the national cluster.
        local_only = throwaway_backend(engine, hosts=[elasticsearch_url],
                                       index_prefix=national.settings.index_prefix)
        assert ids["leeds"] not in {h.child_id for h in local_only.search(ALEX_QUERY)}
    finally:
        client.cluster.put_settings(persistent={"cluster.remote.loop.*": None})
        client.close()


# -- Elasticsearch down: unavailable, never partial; recovers by itself ---------------------


class Forwarder:
    """A TCP forwarder on a fixed loopback port to the Elasticsearch node: stopping it is
    Elasticsearch going away, starting it again is Elasticsearch coming back."""

    def __init__(self, port: int, upstream: tuple[str, int]) -> None:
        self.port, self.upstream = port, upstream
        self._server: socket.socket | None = None
        self._open: list[socket.socket] = []

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen()
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._server is not None:
            # Shutdown wakes the thread blocked in accept(); close alone would not.
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        for s in self._open:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self._open.clear()


class TlsForwarder(Forwarder):
    """The forwarder with TLS in front (a certificate for 127.0.0.1): Elasticsearch as a
    production client meets it, over HTTPS with a private CA."""

    def __init__(self, port: int, upstream: tuple[str, int], cert: Path, key: Path) -> None:
        super().__init__(port, upstream)
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(cert, key)

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                plain, _ = server.accept()
            except OSError:
                return
            try:
                client = self._tls.wrap_socket(plain, server_side=True)
            except (ssl.SSLError, OSError):
                plain.close()  # the client did not trust us: its side reports why
                continue
            upstream = socket.create_connection(self.upstream)
            self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_elasticsearch_down_is_unavailable_then_recovers(
    elasticsearch_url: str, store: tuple[Engine, dict[str, int]]
) -> None:
    engine, ids = store
    port = _free_port()
    upstream = elasticsearch_url.removeprefix("http://").split(":")
    forwarder = Forwarder(port, (upstream[0], int(upstream[1])))
    es = throwaway_backend(engine, hosts=[f"http://127.0.0.1:{port}"], max_retries=1,
                           request_timeout=5.0)
    # Down from the start: nothing answers on the port yet.
    with pytest.raises(SearchUnavailable, match="unavailable"):
        es.search(ALEX_QUERY)
    with pytest.raises(SearchUnavailable):
        es.index_children(ids.values())
    forwarder.start()
    try:
        es.index_children(ids.values())
        assert ids["alex"] in {h.child_id for h in es.search(ALEX_QUERY)}
        forwarder.stop()
        with pytest.raises(SearchUnavailable):
            es.search(ALEX_QUERY)
        with pytest.raises(SearchUnavailable):
            es.remove_children([ids["alex"]])
        with pytest.raises(SearchUnavailable):
            es.verify()
        forwarder.start()
        # The same backend, untouched, answers again.
        assert ids["alex"] in {h.child_id for h in es.search(ALEX_QUERY)}
    finally:
        forwarder.stop()
        es.close()


def test_nightly_updates_queue_while_down_and_catch_up(
    elasticsearch_url: str, store: tuple[Engine, dict[str, int]]
) -> None:
    """The outbox (index.outbox) against the real node: changes made while Elasticsearch is
    away stay queued, with the store changes committed; when it is back a drain catches up."""
    engine, ids = store
    port = _free_port()
    upstream = elasticsearch_url.removeprefix("http://").split(":")
    forwarder = Forwarder(port, (upstream[0], int(upstream[1])))
    es = throwaway_backend(engine, hosts=[f"http://127.0.0.1:{port}"], max_retries=1,
                           request_timeout=5.0)
    forwarder.start()
    try:
        es.index_children(ids.values())
        forwarder.stop()  # Elasticsearch goes away before the nightly run
        with transaction(engine) as session:
            [nadia] = add_children(session, [record("Nadia", "Quasim", DOB, "823", "MK40 1AA")])
            session.execute(update(m.Child).where(m.Child.id == ids["kai"]).values(status="archived"))
            session.execute(update(m.Child).where(m.Child.id == ids["alex"]).values(owning_la="384"))
            outbox.mark_changed(session, [nadia, ids["kai"], ids["alex"]])
        report = outbox.drain(engine, es)
        assert (report.pushed, report.pending) == (0, 3) and "unavailable" in (report.unavailable or "")
        with pytest.raises(SearchUnavailable):
            es.search(ALEX_QUERY)
        # Back again, after a while: the waiting drain catches up by itself.
        threading.Timer(1.0, forwarder.start).start()
        report = outbox.drain_until_caught_up(engine, es, timeout_s=60, pause_s=0.5)
        assert report.caught_up and report.pushed == 3 and outbox.pending(engine) == 0
        nadia_query = SearchQuery(family_name="Quasim", given_name="Nadia", date_of_birth=DOB)
        assert [h.child_id for h in es.search(nadia_query)] == [nadia]
        assert ids["alex"] in {h.child_id for h in es.search(alex_in("384"))}
        assert ids["alex"] not in {h.child_id for h in es.search(alex_in("823"))}
        assert es.verify().consistent  # the index now matches the store exactly
    finally:
        forwarder.stop()
        es.close()


def test_cli_drain(
    elasticsearch_url: str, store: tuple[Engine, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, ids = store
    backend = throwaway_backend(engine, hosts=[elasticsearch_url])
    monkeypatch.setenv("CHILDINDEX_ES_INDEX_PREFIX", backend.settings.index_prefix)
    monkeypatch.setenv("CHILDINDEX_ES_REPLICAS", "0")
    monkeypatch.setenv("CHILDINDEX_ES_MAX_RETRIES", "0")
    monkeypatch.setenv("CHILDINDEX_ES_HOSTS", f"http://127.0.0.1:{_free_port()}")  # nobody there
    with transaction(engine) as session:
        outbox.mark_changed(session, ids.values())
    db = ["--db", engine.url.render_as_string(hide_password=False)]
    runner = CliRunner()
    result = runner.invoke(app, ["index", "drain", *db])
    assert result.exit_code == 3, result.output
    assert f"{len(ids)} still queued" in result.output
    monkeypatch.setenv("CHILDINDEX_ES_HOSTS", elasticsearch_url)
    result = runner.invoke(app, ["index", "drain", *db])
    assert result.exit_code == 0, result.output
    assert f"pushed {len(ids)} children; 0 still queued" in result.output
    assert backend.verify().consistent


def test_https_with_a_private_ca_file(
    backend: ElasticSearch, elasticsearch_url: str, tmp_path: Path
) -> None:
    cert, key = tmp_path / "es.pem", tmp_path / "es.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port = _free_port()
    upstream = elasticsearch_url.removeprefix("http://").split(":")
    forwarder = TlsForwarder(port, (upstream[0], int(upstream[1])), cert, key)
    forwarder.start()
    https = [f"https://127.0.0.1:{port}"]
    prefix = backend.settings.index_prefix
    trusting = throwaway_backend(backend.engine, hosts=https, ca_file=cert, index_prefix=prefix)
    untrusting = throwaway_backend(backend.engine, hosts=https, index_prefix=prefix, max_retries=0)
    try:
        assert trusting.search(ALEX_QUERY)[0].child_id == backend.search(ALEX_QUERY)[0].child_id
        # Without the CA the certificate is not trusted: unavailable, saying it is TLS.
        with pytest.raises(SearchUnavailable, match="Tls"):
            untrusting.search(ALEX_QUERY)
    finally:
        trusting.close()
        untrusting.close()
        forwarder.stop()


def test_part_of_the_index_unavailable_is_unavailable_not_partial(
    backend: ElasticSearch, store: tuple[Engine, dict[str, int]]
) -> None:
    _engine, ids = store
    client = make_client(backend.settings)
    [leeds_index] = client.indices.get_alias(name=backend.la_alias("384"))
    client.indices.close(index=leeds_index)
    try:
        with pytest.raises(SearchUnavailable):
            backend.search(ALEX_QUERY)  # 823's children alone would be a partial answer
        assert backend.search(alex_in("823"))[0].child_id == ids["alex"]
    finally:
        client.indices.open(index=leeds_index, wait_for_active_shards="1")
        client.close()


# -- settings -------------------------------------------------------------------------------


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    monkeypatch.setenv("CHILDINDEX_ES_HOSTS", "https://es1.example:9200, https://es2.example:9200")
    monkeypatch.setenv("CHILDINDEX_ES_CA_FILE", str(ca))
    monkeypatch.setenv("CHILDINDEX_ES_API_KEY", "a2V5OnNlY3JldA==")
    monkeypatch.setenv("CHILDINDEX_ES_REQUEST_TIMEOUT", "2.5")
    monkeypatch.setenv("CHILDINDEX_ES_MAX_RETRIES", "5")
    monkeypatch.setenv("CHILDINDEX_ES_REMOTE_CLUSTERS", "kent,leeds:childindex-la-384")
    settings = ElasticSettings()
    assert settings.hosts == ["https://es1.example:9200", "https://es2.example:9200"]
    assert settings.ca_file == ca and settings.request_timeout == 2.5 and settings.max_retries == 5
    assert "a2V5" not in repr(settings)  # secrets stay out of logs
    backend = ElasticSearch(make_engine("sqlite://"), ElasticSettings(
        hosts=settings.hosts, api_key=settings.api_key, remote_clusters=settings.remote_clusters))
    assert backend._search_target(None) == (
        "childindex-search,kent:childindex-search,leeds:childindex-la-384")
    assert backend._search_target("823") == "childindex-la-823"
    with pytest.raises(ValueError, match="index_prefix"):
        ElasticSettings(index_prefix="Child Index")
    monkeypatch.setenv("CHILDINDEX_ES_USERNAME", "indexer")
    monkeypatch.delenv("CHILDINDEX_ES_API_KEY")
    monkeypatch.delenv("CHILDINDEX_ES_CA_FILE")
    monkeypatch.setenv("CHILDINDEX_ES_PASSWORD", "pw")
    client = make_client(ElasticSettings())
    assert client._headers["authorization"].startswith("Basic ")
    assert len(client.transport.node_pool.all()) == 2
