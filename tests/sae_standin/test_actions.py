"""SAE calls of the stand-in: behavior, and response shapes checked against the official SDK models."""

from __future__ import annotations

import inspect
import os
import re

import pytest
from alibabacloud_sae20190506 import models as sae_models

from sae_standin.conftest import ACCESS_KEY_ID, APP_ID, SECRET
from sae_standin.sdk_signer import SigningClient
from sae_standin.standin import SaeStandIn

IMAGE_V1 = "registry-vpc.cn-hangzhou.aliyuncs.com/demo-ns/demo-app:v1"
IMAGE_V2 = "registry-vpc.cn-hangzhou.aliyuncs.com/demo-ns/demo-app:v2"
RESPONSE_MODELS = {
    "DeployApplication": sae_models.DeployApplicationResponseBody,
    "DescribeApplicationConfig": sae_models.DescribeApplicationConfigResponseBody,
    "DescribeChangeOrder": sae_models.DescribeChangeOrderResponseBody,
    "DescribeApplicationStatus": sae_models.DescribeApplicationStatusResponseBody,
    "ListChangeOrders": sae_models.ListChangeOrdersResponseBody,
}
_SCALAR_TYPES = {"str": str, "int": int, "bool": bool}


def _model_fields(model_class) -> dict[str, str]:
    """Map each JSON name of an SDK model to its annotation text, read from the generated source."""
    source = inspect.getsource(model_class)
    json_names = dict(re.findall(r"if self\.(\w+) is not None:\s*\n\s*result\['(\w+)'\]", source))
    # List fields are written as `result['Name'] = []` before their None check.
    for json_name, attribute in re.findall(r"result\['(\w+)'\] = \[\]\s*\n\s*if self\.(\w+) is not None", source):
        json_names[attribute] = json_name
    parameters = list(inspect.signature(model_class.__init__).parameters.values())[1:]
    return {json_names[parameter.name]: str(parameter.annotation) for parameter in parameters}


def assert_matches_model(model_class, document: dict, where: str = "body") -> None:
    """Check that every field of `document` exists in the SDK model with the model's type."""
    fields = _model_fields(model_class)
    for name, value in document.items():
        assert name in fields, f"{where}.{name} is not a field of {model_class.__name__}"
        annotation = fields[name]
        if annotation in _SCALAR_TYPES:
            assert type(value) is _SCALAR_TYPES[annotation], f"{where}.{name} is {value!r}, model type {annotation}"
        elif annotation.startswith("List[main_models."):
            item_class = getattr(sae_models, annotation[len("List[main_models.") : -1])
            assert isinstance(value, list), f"{where}.{name} must be a list"
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    assert_matches_model(item_class, item, f"{where}.{name}[{index}]")
        elif annotation.startswith("main_models."):
            assert_matches_model(getattr(sae_models, annotation[len("main_models.") :]), value, f"{where}.{name}")


@pytest.fixture
def seeded():
    with SaeStandIn({ACCESS_KEY_ID: SECRET}, apps={APP_ID: IMAGE_V1}) as server:
        yield server, SigningClient(server.port, ACCESS_KEY_ID, SECRET)


def test_every_action_matches_sdk_model(standin, client):
    deploy = client.call("DeployApplication", {"AppId": APP_ID, "ImageUrl": IMAGE_V1, "ChangeOrderDesc": "d"})
    change_order_id = deploy.json["Data"]["ChangeOrderId"]
    responses = {
        "DeployApplication": deploy,
        "DescribeApplicationConfig": client.call("DescribeApplicationConfig", {"AppId": APP_ID}),
        "DescribeChangeOrder": client.call("DescribeChangeOrder", {"ChangeOrderId": change_order_id}),
        "DescribeApplicationStatus": client.call("DescribeApplicationStatus", {"AppId": APP_ID}),
        "ListChangeOrders": client.call("ListChangeOrders", {"AppId": APP_ID, "CurrentPage": "1", "PageSize": "10"}),
    }
    for action, response in responses.items():
        assert response.status == 200, action
        assert response.json["Code"] == "200"
        assert response.json["Success"] is True
        assert_matches_model(RESPONSE_MODELS[action], response.json, action)


def test_describe_config_returns_seeded_image(seeded):
    standin, client = seeded
    response = client.call("DescribeApplicationConfig", {"AppId": APP_ID})
    assert response.json["Data"]["ImageUrl"] == IMAGE_V1


def test_describe_config_follows_last_deploy(seeded):
    standin, client = seeded
    client.call("DeployApplication", {"AppId": APP_ID, "ImageUrl": IMAGE_V2}, body=b"AcrInstanceId=cri-9")
    data = client.call("DescribeApplicationConfig", {"AppId": APP_ID}).json["Data"]
    assert data["ImageUrl"] == IMAGE_V2
    assert data["AcrInstanceId"] == "cri-9"


def test_unregistered_app_not_found(seeded):
    standin, client = seeded
    for action in ("DeployApplication", "DescribeApplicationConfig", "DescribeApplicationStatus", "ListChangeOrders"):
        response = client.call(action, {"AppId": "0f0f0f0f-0000-0000-0000-000000000000"})
        assert response.status == 400, action
        assert response.code == "InvalidApplication.NotFound", action
    assert standin.deploys() == []


def test_add_app_registers(seeded):
    standin, client = seeded
    standin.add_app("second-app", IMAGE_V2)
    response = client.call("DescribeApplicationConfig", {"AppId": "second-app"})
    assert response.json["Data"]["ImageUrl"] == IMAGE_V2


def test_any_well_formed_app_without_list(client):
    assert client.call("DeployApplication", {"AppId": "any-app-1"}).status == 200
    malformed = client.call("DeployApplication", {"AppId": "not an id"})
    assert malformed.code == "InvalidApplication.NotFound"


def test_missing_app_id(client):
    response = client.call("DeployApplication", {"ImageUrl": IMAGE_V1})
    assert response.status == 400
    assert response.code == "InvalidParameter.NotEmpty"


@pytest.mark.parametrize(
    "parameters",
    [
        {"MinReadyInstances": "one"},
        {"MinReadyInstanceRatio": "101"},
        {"BatchWaitTime": "1.5"},
        {"UpdateStrategy": "{not json"},
        {"UpdateStrategy": '["BatchUpdate"]'},
        {"AutoEnableApplicationScalingRule": "yes"},
        {"ImageUrl": ""},
    ],
)
def test_invalid_deploy_parameter(standin, client, parameters):
    response = client.call("DeployApplication", {"AppId": APP_ID, **parameters})
    assert response.status == 400
    assert response.code == "InvalidParameter.WithMessage"
    assert standin.change_orders() == []


def test_valid_deploy_parameters(standin, client):
    strategy = '{"type":"GrayBatchUpdate","batchUpdate":{"batch":2,"releaseType":"auto","batchWaitTime":1},"grayUpdate":{"gray":1}}'
    query = {"AppId": APP_ID, "MinReadyInstanceRatio": "-1", "UpdateStrategy": strategy, "BatchWaitTime": "10"}
    response = client.call("DeployApplication", query)
    assert response.status == 200
    assert standin.change_orders()[0]["Parameters"]["UpdateStrategy"] == strategy


def test_non_form_body_rejected(client):
    response = client.call("DeployApplication", {"AppId": APP_ID}, body=b"{}", extra_headers={"content-type": "application/json"})
    assert response.status == 400
    assert response.code == "InvalidParameter"


def test_unknown_change_order(client):
    response = client.call("DescribeChangeOrder", {"ChangeOrderId": "01db03d3-3ee9-48b3-b3d0-dfce2d880000"})
    assert response.status == 400
    assert response.code == "InvalidChangeOrder.NotFound"


def test_change_order_status_settable(standin, client):
    change_order_id = client.call("DeployApplication", {"AppId": APP_ID}).json["Data"]["ChangeOrderId"]
    assert client.call("DescribeChangeOrder", {"ChangeOrderId": change_order_id}).json["Data"]["Status"] == 2

    standin.set_change_order_status(change_order_id, 3)
    data = client.call("DescribeChangeOrder", {"ChangeOrderId": change_order_id}).json["Data"]
    assert data["Status"] == 3
    assert data["ErrorMessage"]
    with pytest.raises(ValueError):
        standin.set_change_order_status(change_order_id, 4)
    with pytest.raises(KeyError):
        standin.set_change_order_status("missing", 2)


def test_running_change_order_blocks_deploy(standin, client):
    first = client.call("DeployApplication", {"AppId": APP_ID}).json["Data"]["ChangeOrderId"]
    standin.set_change_order_status(first, 1)

    status = client.call("DescribeApplicationStatus", {"AppId": APP_ID}).json["Data"]
    assert status["LastChangeOrderId"] == first
    assert status["LastChangeOrderRunning"] is True
    assert status["LastChangeOrderStatus"] == "RUNNING"
    blocked = client.call("DeployApplication", {"AppId": APP_ID})
    assert blocked.status == 400
    assert blocked.code == "Application.ChangerOrderRunning"

    standin.set_change_order_status(first, 2)
    assert client.call("DeployApplication", {"AppId": APP_ID}).status == 200


def test_initial_status_running():
    with SaeStandIn({ACCESS_KEY_ID: SECRET}, initial_change_order_status=1) as server:
        client = SigningClient(server.port, ACCESS_KEY_ID, SECRET)
        assert client.call("DeployApplication", {"AppId": APP_ID}).status == 200
        assert client.call("DeployApplication", {"AppId": APP_ID}).code == "Application.ChangerOrderRunning"


def test_status_without_change_orders(client):
    data = client.call("DescribeApplicationStatus", {"AppId": APP_ID}).json["Data"]
    assert data["LastChangeOrderId"] == ""
    assert data["LastChangeOrderRunning"] is False
    assert data["CurrentStatus"] == "RUNNING"


def test_list_change_orders_newest_first(client):
    created = []
    for index in range(3):
        query = {"AppId": APP_ID, "ChangeOrderDesc": f"acr push v{index}"}
        created.append(client.call("DeployApplication", query).json["Data"]["ChangeOrderId"])
    client.call("DeployApplication", {"AppId": "other-app", "ChangeOrderDesc": "other"})

    data = client.call("ListChangeOrders", {"AppId": APP_ID, "CurrentPage": "1", "PageSize": "2"}).json["Data"]
    assert data["TotalSize"] == 3
    assert data["CurrentPage"] == 1
    assert data["PageSize"] == 2
    assert [item["ChangeOrderId"] for item in data["ChangeOrderList"]] == [created[2], created[1]]
    assert [item["Description"] for item in data["ChangeOrderList"]] == ["acr push v2", "acr push v1"]
    assert all(item["Status"] == 2 and item["CreateTime"] for item in data["ChangeOrderList"])

    second_page = client.call("ListChangeOrders", {"AppId": APP_ID, "CurrentPage": "2", "PageSize": "2"}).json["Data"]
    assert [item["ChangeOrderId"] for item in second_page["ChangeOrderList"]] == [created[0]]
    by_key = client.call("ListChangeOrders", {"AppId": APP_ID, "Key": "v1"}).json["Data"]
    assert [item["ChangeOrderId"] for item in by_key["ChangeOrderList"]] == [created[1]]


@pytest.mark.parametrize("page", [{"CurrentPage": "0"}, {"PageSize": "-1"}, {"PageSize": "x"}])
def test_list_change_orders_bad_page(client, page):
    response = client.call("ListChangeOrders", {"AppId": APP_ID, **page})
    assert response.status == 400
    assert response.code == "InvalidParameter.WithMessage"


def test_official_sdk_client_round_trip(standin, monkeypatch):
    # The SDK's HTTP stack honors proxy variables, so keep the loopback traffic direct.
    for name in list(os.environ):
        if name.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    from alibabacloud_sae20190506.client import Client
    from alibabacloud_tea_openapi.exceptions import ClientException
    from alibabacloud_tea_openapi.utils_models import Config

    # signature_algorithm="v2" selects the SDK's ROA HMAC-SHA1 signer.
    config = Config(
        access_key_id=ACCESS_KEY_ID,
        access_key_secret=SECRET,
        endpoint=f"127.0.0.1:{standin.port}",
        protocol="http",
        signature_algorithm="v2",
    )
    sdk = Client(config)
    request = sae_models.DeployApplicationRequest(
        app_id=APP_ID, image_url=IMAGE_V2, change_order_desc="acr push \u00fc+&=", acr_instance_id="cri-7", min_ready_instances=1
    )
    deployed = sdk.deploy_application(request)
    change_order_id = deployed.body.data.change_order_id

    order = sdk.describe_change_order(sae_models.DescribeChangeOrderRequest(change_order_id=change_order_id))
    assert order.body.data.status == 2
    assert order.body.data.description == "acr push \u00fc+&="
    config_body = sdk.describe_application_config(sae_models.DescribeApplicationConfigRequest(app_id=APP_ID)).body
    assert config_body.data.image_url == IMAGE_V2
    listed = sdk.list_change_orders(sae_models.ListChangeOrdersRequest(app_id=APP_ID, current_page=1, page_size=10))
    assert listed.body.data.change_order_list[0].change_order_id == change_order_id
    with pytest.raises(ClientException) as raised:
        sdk.describe_change_order(sae_models.DescribeChangeOrderRequest(change_order_id="missing"))
    assert raised.value.code == "InvalidChangeOrder.NotFound"
    assert standin.deploys()[0].body == b"AcrInstanceId=cri-7"
