"""The Elasticsearch 8 search backend: national scale, one index per local authority.

What is in the index: per searchable child (live or deceased), its id, its owning LA, a content
hash, and its blocking keys: the same composite keys as the embedded backend ("date of birth +
phonetic family name", "postcode + given name form", "identifier", ...; see `index.embedded`),
computed in Python with `index.keys` and stored as 64-bit hashes in a keyword field. No name,
date or postcode is readable in the index; the store stays the system of record.

How a search runs: the query's keys (its date of birth expanded into day/month-swapped and
one-edit variants, its given name into the names it may be short for) go to Elasticsearch as
one bool query whose score is the embedded backend's pre-score (the summed weights of the keys
a child shares); the best CANDIDATE_CAP come back as ids; the store confirms they are still
searchable (and in the right LA) and supplies the fields that the embedded backend's scoring
function ranks them with. Same candidates, same ranking, whichever backend answers.

Federation: index `<prefix>-<la>-v<N>` per owning LA; alias `<prefix>-la-<la>` (the LA's write
and search alias; LA data teams search only there) and `<prefix>-search` over all LAs (national
search). LAs on clusters of their own join through cross-cluster search (`remote_clusters`).
A rebuild writes new versioned indices and swaps every alias in one `_aliases` call.

When Elasticsearch cannot answer (down, timing out, shards failing), search and indexing raise
`SearchUnavailable`; the client retries and revives its nodes by itself when they return.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import re
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Annotated, Any, Literal

import elasticsearch
from elasticsearch import Elasticsearch, helpers
from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy import Engine, select

from index import models as m
from index.embedded import (
    BROAD_CAP,
    CANDIDATE_CAP,
    INDEX_BATCH,
    SEARCHABLE_STATUSES,
    STRONG_SCORE,
    Assessed,
    EmbeddedSearch,
    _Candidate,
    _Query,
    assess,
    best_shown,
    ranked_hits,
)
from index.search import MAX_RESULTS, SearchHits, SearchQuery, SearchUnavailable
from index.store import make_engine

MAPPING_VERSION = 1


class ElasticSettings(BaseSettings):
    """Connection and index settings, from CHILDINDEX_ES_* environment variables.

    Lists (hosts, remote_clusters) are comma-separated: CHILDINDEX_ES_HOSTS=https://a:9200,https://b:9200.
    """

    model_config = SettingsConfigDict(env_prefix="CHILDINDEX_ES_", extra="ignore")

    hosts: Annotated[list[str], NoDecode] = ["http://127.0.0.1:9200"]
    ca_file: Path | None = None
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    request_timeout: float = 10.0
    max_retries: int = 2
    retry_on_timeout: bool = True
    # Names in the cluster: indices <prefix>-<la>-v<N>, aliases <prefix>-search, <prefix>-la-<la>.
    index_prefix: str = "childindex"
    # LAs hosting their own index, searched through cross-cluster search: each entry is a
    # remote cluster name as configured in `cluster.remote.<name>` (its `<prefix>-search` alias
    # is searched) or `name:index-or-alias`.
    remote_clusters: Annotated[list[str], NoDecode] = []
    shards: int = 1
    replicas: int = 1
    # When indexed children become searchable: "wait_for" the next refresh (default), "true"
    # at once (tests), "false" whenever (bulk loads that refresh at the end).
    refresh: Literal["true", "false", "wait_for"] = "wait_for"
    # After a rebuild's alias swap, how long the old indices stay for searches already running.
    swap_grace_seconds: float = 5.0
    bulk_chunk: int = 2000
    bulk_threads: int = 2
    # Processes making documents from the store during a rebuild (1: in this process).
    rebuild_workers: int = 2

    @field_validator("hosts", "remote_clusters", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("index_prefix")
    @classmethod
    def _lower(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.]*", value):
            raise ValueError("index_prefix must be lower-case letters, digits, '_' or '.'")
        return value


def make_client(settings: ElasticSettings) -> Elasticsearch:
    options: dict[str, Any] = {
        "hosts": settings.hosts,
        "request_timeout": settings.request_timeout,
        "max_retries": settings.max_retries,
        "retry_on_timeout": settings.retry_on_timeout,
    }
    if settings.ca_file is not None:
        options["ca_certs"] = str(settings.ca_file)
    if settings.api_key is not None:
        options["api_key"] = settings.api_key.get_secret_value()
    elif settings.username is not None:
        password = settings.password.get_secret_value() if settings.password else ""
        options["basic_auth"] = (settings.username, password)
    return Elasticsearch(**options)


# Transport failures and server-side overload: the service is unavailable, not the query wrong.
_UNAVAILABLE_STATUS = frozenset({429, 500, 502, 503, 504})


def _unavailable(exc: Exception, doing: str) -> SearchUnavailable:
    # The class and status only: server messages may echo parts of documents or queries.
    status = f" (HTTP {exc.status_code})" if isinstance(exc, elasticsearch.ApiError) else ""
    return SearchUnavailable(f"Elasticsearch unavailable while {doing}: {type(exc).__name__}{status}")


# Errors that mean part of the index cannot answer: never search the rest instead.
_UNAVAILABLE_ERRORS = frozenset({"index_closed_exception", "cluster_block_exception",
                                 "no_shard_available_action_exception", "connect_transport_exception",
                                 "node_disconnected_exception", "node_not_connected_exception"})


def _is_unavailable(exc: Exception) -> bool:
    if isinstance(exc, elasticsearch.ApiError):
        return exc.status_code in _UNAVAILABLE_STATUS or exc.error in _UNAVAILABLE_ERRORS
    return isinstance(exc, elasticsearch.TransportError)


def _is_missing_index(exc: Exception) -> bool:
    return isinstance(exc, elasticsearch.NotFoundError) and exc.error == "index_not_found_exception"


def _expand_action(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The bulk helpers' expand_action, plus `require_alias` (which they do not pass on)."""
    data = dict(data)
    require_alias = data.pop("require_alias", False)
    action, body = helpers.expand_action(data)
    if require_alias:
        next(iter(action.values()))["require_alias"] = True
    return action, body  # type: ignore[return-value]


class ElasticIndexError(RuntimeError):
    """Elasticsearch rejected some documents; the message gives child ids and error types."""


@dataclass(frozen=True)
class Document:
    """What the index holds for one child."""

    child_id: int
    owning_la: str
    keys: tuple[str, ...]

    @property
    def content_hash(self) -> str:
        text = "\n".join([str(MAPPING_VERSION), self.owning_la, *self.keys])
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

    def source(self) -> dict[str, Any]:
        return {"child_id": self.child_id, "owning_la": self.owning_la, "keys": list(self.keys),
                "hash": self.content_hash}


@dataclass
class VerifyReport:
    """Differences between the store and the index, by child id (ids are not personal data)."""

    in_store: int = 0
    in_index: int = 0
    missing: list[int] = field(default_factory=list)  # searchable in the store, not indexed
    extra: list[int] = field(default_factory=list)  # indexed, not searchable in the store
    stale: list[int] = field(default_factory=list)  # indexed from an older version of the child
    misplaced: list[int] = field(default_factory=list)  # in another LA's index, or in two
    repaired: bool = False

    @property
    def consistent(self) -> bool:
        return not (self.missing or self.extra or self.stale or self.misplaced)


@dataclass(frozen=True)
class RebuildReport:
    version: int
    children: int
    indices: list[str]
    removed: list[str]


def _documents(engine: Engine, child_ids: Sequence[int]) -> dict[int, Document]:
    with engine.connect() as conn:
        pairs = EmbeddedSearch._key_pairs(conn, child_ids)
        owners = dict(conn.execute(
            select(m.Child.id, m.Child.owning_la).where(
                m.Child.id.in_(child_ids), m.Child.status.in_(SEARCHABLE_STATUSES))
        ).all())
    keys: dict[int, list[str]] = defaultdict(list)
    for key, child_id in pairs:
        keys[child_id].append(str(key))
    return {
        child_id: Document(child_id, la, tuple(sorted(keys[child_id])))
        for child_id, la in owners.items()
    }


_worker_engines: dict[str, Engine] = {}


def _worker_documents(url: str, child_ids: Sequence[int]) -> list[Document]:
    """In a rebuild worker process: documents from the store at `url` (one engine per process)."""
    if url not in _worker_engines:
        _worker_engines[url] = make_engine(url)
    return list(_documents(_worker_engines[url], child_ids).values())


_INDEX_NAME = re.compile(r"^(?P<prefix>.+)-(?P<la>[0-9]{3})-v(?P<version>[0-9]+)$")


class ElasticSearch:
    """The Elasticsearch backend over a store; one instance per process (holds a client)."""

    def __init__(
        self, engine: Engine, settings: ElasticSettings | None = None,
        client: Elasticsearch | None = None,
    ) -> None:
        self._engine = engine
        self.settings = settings or ElasticSettings()
        self._client = client or make_client(self.settings)
        self._known_las: set[str] = set()

    @property
    def engine(self) -> Engine:
        """The store this backend indexes from."""
        return self._engine

    def ping(self) -> bool:
        """Whether the cluster answers (the service's readiness check). Its health, not `ping`
        (a HEAD of /, which a proxy in front of the cluster may refuse)."""
        try:
            self._client.cluster.health()
        except Exception as exc:
            if _is_unavailable(exc) or isinstance(exc, elasticsearch.ApiError):
                return False
            raise
        return True

    # -- names ------------------------------------------------------------------------------

    @property
    def search_alias(self) -> str:
        return f"{self.settings.index_prefix}-search"

    def la_alias(self, la: str) -> str:
        return f"{self.settings.index_prefix}-la-{la}"

    def index_name(self, la: str, version: int) -> str:
        return f"{self.settings.index_prefix}-{la}-v{version}"

    def _la_of(self, index: str) -> str | None:
        match = _INDEX_NAME.match(index.split(":")[-1])
        if match and match["prefix"] == self.settings.index_prefix:
            return match["la"]
        return None

    def _search_target(self, owning_la: str | None) -> str:
        if owning_la is not None:
            return self.la_alias(owning_la)
        remote = [entry if ":" in entry else f"{entry}:{self.search_alias}"
                  for entry in self.settings.remote_clusters]
        return ",".join([self.search_alias, *remote])

    # -- documents from the store -----------------------------------------------------------

    def documents(self, child_ids: Sequence[int]) -> dict[int, Document]:
        """The documents of those children that are searchable, read from the store."""
        return _documents(self._engine, child_ids)

    def _document_batches(self) -> Iterator[list[Document]]:
        """Every searchable child's document, a batch at a time in id order. Making documents
        (the keys, in Python) is what limits a rebuild: with `rebuild_workers` > 1, forked
        worker processes make them, a few batches ahead of the bulk requests."""
        workers = self.settings.rebuild_workers
        in_memory = self._engine.url.get_backend_name() == "sqlite" and self._engine.url.database in (
            None, "", ":memory:")
        if workers <= 1 or in_memory or "fork" not in multiprocessing.get_all_start_methods():
            for chunk in self._store_batches():
                yield list(self.documents(chunk).values())
            return
        url = self._engine.url.render_as_string(hide_password=False)
        # Fork before any bulk thread starts; workers open their own engine.
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            ahead: deque[AsyncResult[list[Document]]] = deque()
            for chunk in self._store_batches():
                ahead.append(pool.apply_async(_worker_documents, (url, chunk)))
                if len(ahead) > 2 * workers:
                    yield ahead.popleft().get()
            while ahead:
                yield ahead.popleft().get()

    def _store_batches(self, owning_la: str | None = None) -> Iterator[list[int]]:
        """Every child id in the store (of one LA), in id order, a batch at a time."""
        last = 0
        while True:
            where = [m.Child.id > last]
            if owning_la is not None:
                where.append(m.Child.owning_la == owning_la)
            with self._engine.connect() as conn:
                ids = list(conn.scalars(
                    select(m.Child.id).where(*where).order_by(m.Child.id).limit(INDEX_BATCH)))
            if not ids:
                return
            yield ids
            last = ids[-1]

    # -- indices and aliases ----------------------------------------------------------------

    def _index_body(self, *, loading: bool = False) -> dict[str, Any]:
        return {
            "settings": {
                "number_of_shards": self.settings.shards,
                # A bulk load writes one copy without refreshing; replicas are added at the end.
                "number_of_replicas": 0 if loading else self.settings.replicas,
                "refresh_interval": "-1" if loading else "1s",
                # Loading: fsync the translog in the background; a failed rebuild is redone.
                "translog": {"durability": "async" if loading else "request"},
            },
            "mappings": {
                "dynamic": "strict",
                # Keys are only for finding; rebuilds read the store, never _source.
                "_source": {"excludes": ["keys"]},
                "properties": {
                    "child_id": {"type": "long"},
                    "owning_la": {"type": "keyword"},
                    "keys": {"type": "keyword"},
                    "hash": {"type": "keyword", "index": False},
                },
            },
        }

    def _versions(self) -> dict[str, list[int]]:
        """The versions of each LA's indices that exist now."""
        try:
            indices = self._client.indices.get(
                index=f"{self.settings.index_prefix}-*", allow_no_indices=True,
                expand_wildcards="open", filter_path="*.settings.index.provided_name",
            )
        except elasticsearch.NotFoundError:
            return {}
        versions: dict[str, list[int]] = defaultdict(list)
        for name in indices:
            match = _INDEX_NAME.match(name)
            if match and match["prefix"] == self.settings.index_prefix:
                versions[match["la"]].append(int(match["version"]))
        return versions

    def _ensure_la_index(self, la: str) -> str:
        """The LA's write alias, its first index created (with both aliases) on first use.

        Writes go through the alias (`require_alias`), never to a remembered index name, so an
        alias swap by a rebuild in another process cannot send them to a dropped index."""
        alias = self.la_alias(la)
        if la in self._known_las:
            return alias
        if not self._client.indices.exists_alias(name=alias):
            version = max((v for vs in self._versions().values() for v in vs), default=1)
            body = self._index_body()
            try:
                self._client.indices.create(
                    index=self.index_name(la, version), settings=body["settings"],
                    mappings=body["mappings"],
                    aliases={self.search_alias: {}, alias: {"is_write_index": True}},
                )
            except elasticsearch.BadRequestError as exc:
                if exc.error != "resource_already_exists_exception":
                    raise
        self._known_las.add(la)
        return alias

    def _locate(self, child_ids: Sequence[int]) -> dict[int, set[str]]:
        """Which concrete indices (local) hold each of these children now."""
        found: dict[int, set[str]] = defaultdict(set)
        try:
            response = self._client.search(
                index=self.search_alias, query={"ids": {"values": [str(c) for c in child_ids]}},
                size=2 * len(child_ids), source=False, track_total_hits=False,
            )
        except elasticsearch.NotFoundError as exc:
            if _is_missing_index(exc):
                return found
            raise
        for hit in response["hits"]["hits"]:
            found[int(hit["_id"])].add(hit["_index"])
        return found

    # -- writing ----------------------------------------------------------------------------

    def _bulk(self, actions: Iterable[dict[str, Any]], *, refresh: str | None = None,
              parallel: bool = False) -> int:
        """Send actions with the client's bulk helpers; the number done. Deleting what is not
        there is fine; any other rejection raises ElasticIndexError naming child ids."""
        options = {"chunk_size": self.settings.bulk_chunk, "raise_on_error": False,
                   "raise_on_exception": True, "refresh": refresh or self.settings.refresh,
                   "expand_action_callback": _expand_action}
        if parallel:
            results: Iterable[tuple[bool, Any]] = helpers.parallel_bulk(
                self._client, actions, thread_count=self.settings.bulk_threads, **options)
        else:
            results = helpers.streaming_bulk(self._client, actions, **options)
        done = 0
        failed: list[tuple[str, str]] = []
        for ok, item in results:
            [(op, outcome)] = item.items()
            if ok or (op == "delete" and outcome.get("status") == 404):
                done += 1
            else:
                error = outcome.get("error", {})
                failed.append((str(outcome.get("_id")), error.get("type", str(outcome.get("status")))))
        if failed:
            if any(reason in {"es_rejected_execution_exception", "unavailable_shards_exception"}
                   for _id, reason in failed):
                raise SearchUnavailable(f"Elasticsearch rejected {len(failed)} updates: overloaded")
            ids = ", ".join(i for i, _ in failed[:10])
            reasons = ", ".join(sorted({r for _, r in failed}))
            raise ElasticIndexError(
                f"{len(failed)} index updates failed (child ids {ids}...): {reasons}")
        return done

    def index_children(self, child_ids: Iterable[int]) -> None:
        """(Re)index these children from the store: a child that moved LA leaves its old LA's
        index; an archived or unknown child leaves the index. Raises SearchUnavailable when
        Elasticsearch cannot take the update (the caller keeps the ids and retries)."""
        ids = sorted(set(child_ids))
        try:
            for start in range(0, len(ids), INDEX_BATCH):
                chunk = ids[start : start + INDEX_BATCH]
                docs = self.documents(chunk)
                located = self._locate(chunk)
                actions: list[dict[str, Any]] = []
                for child_id in chunk:
                    doc = docs.get(child_id)
                    actions.extend(
                        {"_op_type": "delete", "_index": where, "_id": str(child_id)}
                        for where in sorted(located.get(child_id, ()))
                        if doc is None or self._la_of(where) != doc.owning_la
                    )
                    if doc:
                        alias = self._ensure_la_index(doc.owning_la)
                        actions.append({"_index": alias, "_id": str(child_id), "require_alias": True,
                                        **doc.source()})
                self._bulk(actions)
        except (elasticsearch.TransportError, elasticsearch.ApiError) as exc:
            if _is_unavailable(exc):
                raise _unavailable(exc, "indexing") from None
            raise

    def remove_children(self, child_ids: Iterable[int]) -> None:
        ids = sorted(set(child_ids))
        try:
            for start in range(0, len(ids), INDEX_BATCH):
                located = self._locate(ids[start : start + INDEX_BATCH])
                self._bulk(
                    {"_op_type": "delete", "_index": where, "_id": str(child_id)}
                    for child_id, indices in located.items() for where in indices
                )
        except (elasticsearch.TransportError, elasticsearch.ApiError) as exc:
            if _is_unavailable(exc):
                raise _unavailable(exc, "removing") from None
            raise

    def rebuild(self) -> RebuildReport:
        """Index every searchable child from the store into new versioned indices (one per
        LA), then point all aliases at them and drop the old ones in one `_aliases` call:
        searches keep being answered from the old indices until the swap.

        Updates sent to the old indices while the rebuild runs are not in the new ones: run
        `verify(repair=True)` afterwards (the CLI does)."""
        versions = self._versions()
        version = max((v for vs in versions.values() for v in vs), default=0) + 1
        created: set[str] = set()
        count = 0

        def actions() -> Iterator[dict[str, Any]]:
            nonlocal count
            for batch in self._document_batches():
                for doc in batch:
                    index = self.index_name(doc.owning_la, version)
                    if index not in created:
                        body = self._index_body(loading=True)
                        self._client.indices.create(index=index, settings=body["settings"],
                                                    mappings=body["mappings"])
                        created.add(index)
                    count += 1
                    yield {"_index": index, "_id": str(doc.child_id), **doc.source()}

        try:
            self._bulk(actions(), refresh="false", parallel=True)
            new = sorted(created)
            if new:
                self._client.indices.put_settings(
                    index=",".join(new),
                    settings={"number_of_replicas": self.settings.replicas, "refresh_interval": "1s",
                              "translog.durability": "request"})
                self._client.indices.refresh(index=",".join(new))
                self._client.cluster.health(index=",".join(new), wait_for_status="yellow",
                                            timeout="60s")
            old = sorted(self.index_name(la, v) for la, vs in versions.items() for v in vs)
            swap: list[dict[str, Any]] = [
                {"remove": {"index": i, "aliases": [self.search_alias, self.la_alias(la)],
                            "must_exist": False}}
                for la, vs in versions.items() for v in vs for i in [self.index_name(la, v)]
            ]
            for index in new:
                la = self._la_of(index)
                assert la is not None
                swap.append({"add": {"index": index, "alias": self.search_alias}})
                swap.append({"add": {"index": index, "alias": self.la_alias(la), "is_write_index": True}})
            if swap:
                self._client.indices.update_aliases(actions=swap)
            if old:
                # Searches that resolved the aliases just before the swap still read the old
                # indices: give them time to finish before the indices go.
                time.sleep(self.settings.swap_grace_seconds)
                self._client.indices.delete(index=",".join(old), ignore_unavailable=True)
        except (elasticsearch.TransportError, elasticsearch.ApiError) as exc:
            if _is_unavailable(exc):
                raise _unavailable(exc, "rebuilding") from None
            raise
        self._known_las.clear()
        return RebuildReport(version=version, children=count, indices=new, removed=old)

    # -- consistency ------------------------------------------------------------------------

    def verify(self, repair: bool = False, owning_la: str | None = None) -> VerifyReport:
        """Compare the store with the index (ids, LA and a content hash per child); with
        `repair`, reindex or remove every child that differs. `owning_la` checks one LA (at
        national scale, one LA at a time keeps memory small)."""
        report = VerifyReport()
        expected: dict[int, tuple[str, str]] = {}
        for chunk in self._store_batches(owning_la):
            for doc in self.documents(chunk).values():
                expected[doc.child_id] = (doc.owning_la, doc.content_hash)
        report.in_store = len(expected)
        indexed: dict[int, list[tuple[str | None, str]]] = defaultdict(list)
        target = self.la_alias(owning_la) if owning_la else self.search_alias
        try:
            for hit in helpers.scan(self._client, index=target, query={"query": {"match_all": {}}},
                                    _source=["hash"], size=5000, ignore_unavailable=True):
                indexed[int(hit["_id"])].append((self._la_of(hit["_index"]), hit["_source"]["hash"]))
        except (elasticsearch.TransportError, elasticsearch.ApiError) as exc:
            if _is_unavailable(exc):
                raise _unavailable(exc, "verifying") from None
            raise
        report.in_index = len(indexed)
        for child_id, (la, content_hash) in expected.items():
            copies = indexed.get(child_id)
            if not copies:
                report.missing.append(child_id)
            elif len(copies) > 1 or copies[0][0] != la:
                report.misplaced.append(child_id)
            elif copies[0][1] != content_hash:
                report.stale.append(child_id)
        report.extra = sorted(set(indexed) - set(expected))
        if repair and not report.consistent:
            self.index_children([*report.missing, *report.stale, *report.misplaced])
            self.remove_children(report.extra)
            report.repaired = True
        return report

    # -- searching --------------------------------------------------------------------------

    def search(self, query: SearchQuery, limit: int = MAX_RESULTS) -> SearchHits:
        """Ranked candidates, best first, at most `min(limit, MAX_RESULTS)`, scores in 0..1.
        Raises SearchUnavailable rather than answer from part of the index."""
        q = _Query.of(query)
        limit = max(0, min(limit, MAX_RESULTS))
        if limit == 0:
            return SearchHits()
        target = self._search_target(q.owning_la)
        assessed = self._lookup_and_score(q, target, q.keys(), CANDIDATE_CAP, exclude=set())
        if best_shown(assessed) < STRONG_SCORE and (broad := q.broad_keys()):
            assessed |= self._lookup_and_score(q, target, broad, BROAD_CAP, exclude=set(assessed))
        return ranked_hits(assessed, limit)

    def candidates(self, target: str, keys: dict[int, float], cap: int,
                   exclude: set[int]) -> list[int]:
        """The ids of the `cap` children sharing the most (weighted) keys, best first; ties by id."""
        should = [{"constant_score": {"filter": {"term": {"keys": str(k)}}, "boost": w}}
                  for k, w in keys.items()]
        query: dict[str, Any] = {"bool": {"should": should, "minimum_should_match": 1}}
        if exclude:
            query["bool"]["must_not"] = [{"ids": {"values": [str(c) for c in exclude]}}]
        try:
            response = self._client.search(
                index=target, query=query, size=cap, source=False, track_total_hits=False,
                sort=[{"_score": "desc"}, {"child_id": "asc"}],
                allow_partial_search_results=False, timeout=f"{int(self.settings.request_timeout * 1000)}ms",
            )
        except (elasticsearch.TransportError, elasticsearch.ApiError) as exc:
            if _is_missing_index(exc):
                return []  # no index for that LA (or none yet): nobody indexed there
            if _is_unavailable(exc):
                raise _unavailable(exc, "searching") from None
            raise
        # A shard, or a remote LA cluster, that did not answer would leave its children out.
        if (response.get("timed_out") or response.get("_shards", {}).get("failed")
                or response.get("_clusters", {}).get("skipped")):
            raise SearchUnavailable("Elasticsearch answered from part of the index only")
        return [int(hit["_id"]) for hit in response["hits"]["hits"]]

    def _lookup_and_score(self, q: _Query, target: str, keys: dict[int, float], cap: int,
                          exclude: set[int]) -> dict[int, Assessed]:
        if not keys:
            return {}
        ids = self.candidates(target, keys, cap, exclude)
        if not ids:
            return {}
        # The store confirms each candidate: an archived, purged or moved child is dropped
        # even before its index entry catches up.
        where = [m.Child.id.in_(ids), m.Child.status.in_(SEARCHABLE_STATUSES)]
        if q.owning_la is not None:
            where.append(m.Child.owning_la == q.owning_la)
        with self._engine.connect() as conn:
            candidates = {
                child_id: _Candidate(child_id, dob, str(gender), number, la, shielded)
                for child_id, dob, gender, number, la, shielded in conn.execute(
                    select(m.Child.id, m.Child.date_of_birth, m.Child.gender, m.Child.child_number,
                           m.Child.owning_la, m.Child.shielded)
                    .where(*where))
            }
            if not candidates:
                return {}
            EmbeddedSearch._fill(conn, q, candidates)
        return assess(q, candidates.values())

    def close(self) -> None:
        self._client.close()


__all__ = [
    "Document",
    "ElasticIndexError",
    "ElasticSearch",
    "ElasticSettings",
    "RebuildReport",
    "VerifyReport",
    "make_client",
]
