"""Exactly-once deploys per (application, digest): redeliveries, concurrent
deliveries, released claims and state kept across a host restart."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from e2e_helpers import (
    WEBHOOK_TOKEN,
    deploy_calls,
    new_app_id,
    new_digest,
    post_push,
    push_event,
    single_deploy,
)

CONCURRENT_DELIVERIES = 10


def test_redelivery_is_duplicate(host, sae):
    event = push_event()
    app_id = new_app_id()
    first = post_push(host, event, app_id)
    mark = host.mark()

    second = post_push(host, event, app_id)

    call = single_deploy(sae)
    assert first.json["status"] == "deploying"
    assert second.status == 200, second.text
    assert second.json["status"] == "duplicate"
    assert second.json["change_order_id"] == call.change_order_id
    assert second.json["request_id"] == call.request_id
    assert second.json["image"] == first.json["image"]
    assert "already deployed" in second.json["reason"]
    assert "in_progress" not in second.json
    [line] = host.request_logs(mark)
    assert line["outcome"] == "duplicate"


def test_duplicate_not_added_to_history(host, sae):
    event = push_event()
    app_id = new_app_id()
    post_push(host, event, app_id)

    post_push(host, event, app_id)

    history = host.request("GET", "/deploys", query={"token": WEBHOOK_TOKEN}).json["deploys"]
    assert [record["outcome"] for record in history if record["app_id"] == app_id] == ["deploying"]


def test_concurrent_deliveries_deploy_once(host, sae):
    event = push_event()
    app_id = new_app_id()
    # Hold the winner's deploy briefly, so the others arrive while it runs.
    sae.hang_next("DeployApplication", seconds=0.5)
    barrier = threading.Barrier(CONCURRENT_DELIVERIES)

    def deliver(_: int):
        barrier.wait()
        return post_push(host, event, app_id)

    with ThreadPoolExecutor(CONCURRENT_DELIVERIES) as pool:
        replies = list(pool.map(deliver, range(CONCURRENT_DELIVERIES)))

    call = single_deploy(sae)
    assert [reply.status for reply in replies] == [200] * CONCURRENT_DELIVERIES
    statuses = sorted(reply.json["status"] for reply in replies)
    assert statuses == ["deploying"] + ["duplicate"] * (CONCURRENT_DELIVERIES - 1)
    # A duplicate still in progress would carry `in_progress: true` and no id;
    # within the wait budget every one should see the finished record.
    assert [reply.json.get("in_progress") for reply in replies] == [None] * CONCURRENT_DELIVERIES
    assert {reply.json["change_order_id"] for reply in replies} == {call.change_order_id}


def test_concurrent_different_apps(host, sae):
    digest = new_digest()
    apps = [new_app_id() for _ in range(4)]
    barrier = threading.Barrier(len(apps))

    def deliver(app_id: str):
        barrier.wait()
        return post_push(host, push_event(digest=digest), app_id)

    with ThreadPoolExecutor(len(apps)) as pool:
        replies = list(pool.map(deliver, apps))

    assert [reply.json["status"] for reply in replies] == ["deploying"] * len(apps)
    assert sorted(call.query["AppId"] for call in sae.deploys()) == sorted(apps)


def test_failed_deploy_releases_claim(host, sae):
    sae.fail_next("DeployApplication", code="InvalidParameter")
    event = push_event()
    app_id = new_app_id()
    failed = post_push(host, event, app_id)

    retry = post_push(host, event, app_id)

    assert failed.status == 502, failed.text
    assert retry.status == 200, retry.text
    assert retry.json["status"] == "deploying"
    assert len(deploy_calls(sae)) == 2
    [created] = sae.deploys()
    assert retry.json["change_order_id"] == created.change_order_id


def test_server_error_releases_claim(host, sae):
    sae.fail_next("DeployApplication", code="InternalError")
    event = push_event()
    app_id = new_app_id()
    assert post_push(host, event, app_id).status == 502

    retry = post_push(host, event, app_id)

    assert retry.json["status"] == "deploying", retry.text
    assert len(sae.deploys()) == 1


def test_failure_then_duplicate(host, sae):
    sae.fail_next("DeployApplication", code="InvalidParameter")
    event = push_event()
    app_id = new_app_id()
    post_push(host, event, app_id)
    deployed = post_push(host, event, app_id)

    third = post_push(host, event, app_id)

    assert third.json["status"] == "duplicate"
    assert third.json["change_order_id"] == deployed.json["change_order_id"]
    assert len(sae.deploys()) == 1


def test_new_digest_deploys_again(host, sae):
    app_id = new_app_id()
    first = post_push(host, push_event(tag="v1"), app_id)

    second = post_push(host, push_event(tag="v1"), app_id)

    assert first.json["status"] == "deploying"
    assert second.json["status"] == "deploying"
    assert len(sae.deploys()) == 2
    assert first.json["change_order_id"] != second.json["change_order_id"]


def test_same_digest_new_tag_deploys(host, sae):
    # Promoting one image to a new tag (rc to release) changes the ImageUrl.
    event = push_event(tag="v2.0.0-rc.1")
    app_id = new_app_id()
    first = post_push(host, event, app_id)
    event["push_data"]["tag"] = "v2.0.0"

    second = post_push(host, event, app_id)
    third = post_push(host, event, app_id)

    assert first.json["status"] == "deploying"
    assert second.json["status"] == "deploying"
    assert third.json["status"] == "duplicate"
    assert [call.query["ImageUrl"].rsplit(":", 1)[1] for call in sae.deploys()] == ["v2.0.0-rc.1", "v2.0.0"]


def test_same_digest_other_app_deploys(host, sae):
    event = push_event()
    first_app, second_app = new_app_id(), new_app_id()

    first = post_push(host, event, first_app)
    second = post_push(host, event, second_app)

    assert first.json["status"] == "deploying"
    assert second.json["status"] == "deploying"
    assert [call.query["AppId"] for call in sae.deploys()] == [first_app, second_app]


def test_app_id_case_is_one_app(host, sae):
    event = push_event()
    app_id = new_app_id()
    post_push(host, event, app_id)

    second = post_push(host, event, app_id.upper())

    assert second.json["status"] == "duplicate", second.text
    assert len(sae.deploys()) == 1


def test_dry_run_takes_no_claim(host, sae):
    event = push_event()
    app_id = new_app_id()
    explained = post_push(host, event, app_id, path="/explain")

    real = post_push(host, event, app_id)

    assert explained.json["status"] == "dry_run"
    assert real.json["status"] == "deploying"
    single_deploy(sae)


def test_state_survives_restart(launch, sae, tmp_path):
    state_dir = tmp_path / "kept-state"
    event = push_event()
    app_id = new_app_id()
    first_host = launch(sae_endpoint=sae.url, state_dir=state_dir)
    first = post_push(first_host, event, app_id)
    first_host.stop()

    second_host = launch(sae_endpoint=sae.url, state_dir=state_dir)
    second = post_push(second_host, event, app_id)
    history = second_host.request("GET", "/deploys", query={"token": WEBHOOK_TOKEN}).json

    call = single_deploy(sae)
    assert first.json["status"] == "deploying"
    assert second.json["status"] == "duplicate"
    assert second.json["change_order_id"] == call.change_order_id
    assert [record["change_order_id"] for record in history["deploys"]] == [call.change_order_id]


def test_fresh_state_dir_forgets(launch, sae):
    event = push_event()
    app_id = new_app_id()
    first = post_push(launch(sae_endpoint=sae.url), event, app_id)

    second = post_push(launch(sae_endpoint=sae.url), event, app_id)

    assert first.json["status"] == "deploying"
    assert second.json["status"] == "deploying"
    assert len(sae.deploys()) == 2
