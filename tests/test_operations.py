"""Running the service: /health, /ready, /metrics, request ids and JSON log lines, and the
nightly run's state for the operator and the LA data team (issue 17)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_world import PERSONAL, World, build_world, personal_values
from conftest import LogLines
from fastapi.testclient import TestClient
from pydantic import SecretStr

from access import Directory
from access.settings import AccessSettings
from api.app import create_app
from api.context import ApiSettings, Context
from api.observability import JsonLines
from index.elastic import ElasticSearch, ElasticSettings
from ingest import run_nightly
from ops.retention import run_retention
from ops.slapd import DemoDirectory

TOKEN = "scrape-token-for-tests-0123456789"


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield build_world(ldap_server, tmp_path_factory.mktemp("operations"))


def app_with(world: World, **settings: object) -> TestClient:
    """Another app on the same store and directory with changed service settings."""
    ctx = world.ctx
    changed = Context(ctx.settings.model_copy(update=settings), ctx.engine, ctx.signin, ctx.search,
                      clock=ctx.clock)
    return TestClient(create_app(context=changed), raise_server_exceptions=False)


def test_health_answers_without_sign_in(world: World) -> None:
    response = world.client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_ready_checks_store_and_directory(world: World) -> None:
    response = world.client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"store": "ok", "directory": "ok",
                                                             "search": "not_configured"}}


def test_not_ready_when_the_directory_is_down(world: World) -> None:
    ctx = world.ctx
    down = AccessSettings(**{**ctx.access.model_dump(), "ldap_uri": "ldap://127.0.0.1:1",
                             "ldap_network_timeout_seconds": 1.0})
    ctx.signin.directory, kept = Directory(down), ctx.signin.directory
    try:
        response = world.client.get("/ready")
    finally:
        ctx.signin.directory = kept
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready", "checks": {"store": "ok", "directory": "DirectoryError",
                                                                 "search": "not_configured"}}


def test_ready_checks_elasticsearch_when_it_is_the_backend(world: World, elasticsearch_url: str) -> None:
    for hosts, expected, status in (([elasticsearch_url], "ok", 200),
                                    (["http://127.0.0.1:1"], "unreachable", 503)):
        search = ElasticSearch(world.engine, ElasticSettings(hosts=hosts, max_retries=0, request_timeout=2))
        ctx = world.ctx
        changed = Context(ctx.settings, ctx.engine, ctx.signin, search, clock=ctx.clock)
        response = TestClient(create_app(context=changed)).get("/ready")
        assert response.status_code == status
        assert response.json()["checks"]["search"] == expected


def test_metrics_only_for_a_configured_scraper(world: World) -> None:
    assert world.client.get("/metrics").status_code == 404  # not configured: not there
    client = app_with(world, metrics_token=SecretStr(TOKEN))
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    with pytest.raises(ValueError, match="not an address or network"):
        ApiSettings(metrics_scrapers=["testclient"])
    local = app_with(world, metrics_scrapers=["127.0.0.0/8"])
    assert local.get("/metrics").status_code == 403  # the test client is "testclient", not 127.0.0.1


def test_metrics_count_requests_searches_views_and_sign_in_failures(world: World) -> None:
    client = app_with(world, metrics_token=SecretStr(TOKEN))
    pat = world.auth("pat.practitioner")
    found = client.post("/search", headers=pat, json={
        "family_name": "Pendragon", "date_of_birth": "2015-06-07", "reason": "safeguarding"})
    assert found.status_code == 200, found.text
    viewed = client.get(f"/children/{world.ids['own']}", params={"reason": "safeguarding"}, headers=pat)
    assert viewed.status_code == 200
    refused = client.post("/signin", json={"username": "pat.practitioner", "password": "wrong",
                                           "code": "000000"})
    assert refused.status_code == 401
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert 'childindex_http_requests_total{method="POST",route="/search",status="200"} 1.0' in text
    assert ('childindex_http_requests_total{method="GET",route="/children/{child_id}",status="200"} 1.0'
            in text)
    assert "childindex_searches_total 1.0" in text
    assert "childindex_record_views_total 1.0" in text
    assert "childindex_signin_failures_total 1.0" in text
    assert 'childindex_http_request_duration_seconds_bucket{le="10.0",route="/search"} 1.0' in text
    for gauge in ("childindex_nightly_last_success_timestamp_seconds", "childindex_reviews_open 2.0",
                  "childindex_search_outbox_backlog", "childindex_users_locked_out"):
        assert gauge in text
    assert not [v for v in personal_values(world.engine) if v in text.lower()]


def test_every_response_carries_a_request_id(world: World) -> None:
    fresh = world.client.get("/health")
    assert len(fresh.headers["x-request-id"]) == 32
    given = world.client.get("/health", headers={"X-Request-ID": "lb-abcdef-123456"})
    assert given.headers["x-request-id"] == "lb-abcdef-123456"
    unsafe = world.client.get("/health", headers={"X-Request-ID": "Tamsin Pendragon 2015-06-07"})
    assert unsafe.headers["x-request-id"] != "Tamsin Pendragon 2015-06-07"


def test_log_lines_are_json_with_the_request_id(world: World, log_lines: LogLines) -> None:
    response = world.client.get(f"/children/{world.ids['own']}", params={"reason": "safeguarding"},
                                headers={**world.auth("pat.practitioner"), "X-Request-ID": "trace-0001-abcd"})
    assert response.status_code == 200
    lines = [json.loads(line) for line in log_lines.lines]
    mine = [line for line in lines if line.get("request_id") == "trace-0001-abcd"]
    assert mine and mine[-1]["route"] == "/children/{child_id}" and mine[-1]["status"] == 200
    assert all(f"/children/{world.ids['own']}" not in json.dumps(line) for line in mine)  # the template


def test_the_log_check_catches_a_personal_value(world: World) -> None:
    """The fixture that checks every journey's log lines would see a leak (it is not blind)."""
    record = logging.LogRecord("api", logging.ERROR, __file__, 1, "child %s", ("Pendragon",), None)
    line = JsonLines().format(record)
    values = personal_values(world.engine)
    assert "pendragon" in values and "mk40 1ab" in values and "2015-06-07" in values
    assert any(v in line.lower() for v in values)
    assert {p.lower() for p in PERSONAL} <= values


def test_nightly_state_for_the_operator_and_the_la_data_team(world: World) -> None:
    run_nightly(world.engine)
    run_retention(world.engine, as_of=dt.date(2026, 3, 2), dry_run=True)
    for uid in ("otto.operator", "dana.datateam"):
        response = world.client.get("/operations/nightly", headers=world.auth(uid))
        assert response.status_code == 200, response.text
        state = response.json()
        assert state["last_run"]["outcome"] == "ok" and state["last_run"]["state"] == "done"
        assert state["last_success_at"] is not None and state["reviews_open"] == 2
        assert state["last_run"]["report"]["records"] == 0
        assert state["retention_runs"][0]["dry_run"] is True
        assert state["retention_runs"][0]["report"]["counts"]["archive_at_18"] == 0
    assert world.client.get("/operations/nightly", headers=world.auth("pat.practitioner")).status_code == 403


def test_operator_may_not_see_children(world: World) -> None:
    otto = world.auth("otto.operator")
    assert world.client.get(f"/children/{world.ids['own']}", params={"reason": "safeguarding"},
                            headers=otto).status_code == 403
    searched = world.client.post("/search", headers=otto, json={
        "family_name": "Pendragon", "date_of_birth": "2015-06-07", "reason": "safeguarding"})
    assert searched.status_code == 403


def test_serve_configures_json_logging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.observability import configure_logging

    root = logging.getLogger()
    kept = list(root.handlers), root.level
    try:
        handler = configure_logging()
        assert isinstance(handler.formatter, JsonLines)
    finally:
        root.handlers[:] = kept[0]
        root.setLevel(kept[1])
