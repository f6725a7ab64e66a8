"""In-memory SAE applications and change orders, and the five SAE calls the product makes.

Response shapes follow the models of the official SDK alibabacloud-sae20190506
2.11.2 (`DeployApplicationResponseBody`, `DescribeApplicationConfigResponseBody`,
`DescribeChangeOrderResponseBody`, `DescribeApplicationStatusResponseBody` and
`ListChangeOrdersResponseBody`): the same JSON names and types.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from sae_standin.apierror import ApiError

# Change order Status values, from the SDK model's documentation.
STATUS_NAMES = {
    0: "READY",
    1: "RUNNING",
    2: "SUCCESS",
    3: "FAIL",
    6: "ABORT",
    8: "WAIT_BATCH_CONFIRM",
    9: "AUTO_BATCH_WAIT",
    10: "SYSTEM_FAIL",
    11: "WAIT_APPROVAL",
    12: "APPROVED",
}
FINISHED_STATUSES = frozenset({2, 3, 6, 10})
STATUS_SUCCESS = 2

_APP_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_INTEGER_PARAMETERS = ("MinReadyInstances", "MinReadyInstanceRatio", "BatchWaitTime")
DEFAULT_PAGE_SIZE = 10  # NOTE: SAE's default page size is not documented, so 10 is an assumption.


def _format_time(epoch_seconds: float) -> str:
    # NOTE: SAE's exact CreateTime/FinishTime text format is not confirmed.
    # This uses 'YYYY-MM-DD HH:MM:SS' in UTC.
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_seconds))


def success_body(request_id: str, data: dict) -> dict:
    """Wrap `data` in SAE's success envelope."""
    return {
        "RequestId": request_id,
        "Code": "200",
        "Message": "success",
        "Success": True,
        "TraceId": uuid.uuid4().hex[:30],
        "Data": data,
    }


@dataclass
class ChangeOrder:
    """One change order created by DeployApplication."""

    change_order_id: str
    app_id: str
    description: str
    image_url: str | None
    acr_instance_id: str | None
    parameters: dict[str, str]
    status: int
    sequence: int
    create_time: float = field(default_factory=time.time)
    finish_time: float | None = None

    def to_json(self) -> dict:
        return {
            "ChangeOrderId": self.change_order_id,
            "AppId": self.app_id,
            "Description": self.description,
            "ImageUrl": self.image_url,
            "AcrInstanceId": self.acr_instance_id,
            "Parameters": dict(self.parameters),
            "Status": self.status,
            "CreateTime": _format_time(self.create_time),
        }


@dataclass
class Application:
    """An SAE application as far as image deploys see it."""

    app_id: str
    image_url: str | None = None
    acr_instance_id: str | None = None
    create_time: float = field(default_factory=time.time)


class SaeState:
    """Thread-safe store of applications and change orders, with one method per SAE action.

    When `restrict_apps` is True, only applications added with `add_app` exist.
    Otherwise any well-formed AppId is accepted and created on first use.
    """

    def __init__(self, restrict_apps: bool, initial_change_order_status: int = STATUS_SUCCESS) -> None:
        if initial_change_order_status not in STATUS_NAMES:
            raise ValueError(f"initial_change_order_status must be one of {sorted(STATUS_NAMES)}")
        self.restrict_apps = restrict_apps
        self.initial_change_order_status = initial_change_order_status
        self._lock = threading.RLock()
        self._apps: dict[str, Application] = {}
        self._change_orders: dict[str, ChangeOrder] = {}
        self._sequence = 0
        self.handlers: dict[str, Callable[[dict[str, str], dict[str, str]], dict]] = {
            "DeployApplication": self.deploy_application,
            "DescribeApplicationConfig": self.describe_application_config,
            "DescribeChangeOrder": self.describe_change_order,
            "DescribeApplicationStatus": self.describe_application_status,
            "ListChangeOrders": self.list_change_orders,
        }

    # Test-side controls.

    def add_app(self, app_id: str, image_url: str | None = None) -> None:
        with self._lock:
            app = self._apps.setdefault(app_id, Application(app_id))
            if image_url is not None:
                app.image_url = image_url

    def current_image(self, app_id: str) -> str | None:
        with self._lock:
            app = self._apps.get(app_id)
            return None if app is None else app.image_url

    def set_change_order_status(self, change_order_id: str, status: int) -> None:
        if status not in STATUS_NAMES:
            raise ValueError(f"status must be one of {sorted(STATUS_NAMES)}, got {status!r}")
        with self._lock:
            order = self._change_orders.get(change_order_id)
            if order is None:
                raise KeyError(f"change order {change_order_id!r} does not exist")
            order.status = status
            order.finish_time = time.time() if status in FINISHED_STATUSES else None

    def change_orders(self) -> list[dict]:
        """Return every change order, oldest first."""
        with self._lock:
            ordered = sorted(self._change_orders.values(), key=lambda order: order.sequence)
            return [order.to_json() for order in ordered]

    # SAE actions. Each takes the decoded query and form body and returns `Data`.

    def deploy_application(self, query: dict[str, str], form: dict[str, str]) -> dict:
        app_id = self._require(query, "AppId")
        self._validate_deploy_parameters(query)
        # AcrInstanceId is read from the form body only, where the official SDK sends it.
        acr_instance_id = form.get("AcrInstanceId")
        with self._lock:
            app = self._find_app(app_id)
            running = self._running_change_order(app_id)
            if running is not None:
                raise ApiError(
                    "Application.ChangerOrderRunning",
                    f"The change order {running.change_order_id} of application {app_id} is still running.",
                )
            self._sequence += 1
            order = ChangeOrder(
                change_order_id=str(uuid.uuid4()),
                app_id=app_id,
                description=query.get("ChangeOrderDesc", ""),
                image_url=query.get("ImageUrl"),
                acr_instance_id=acr_instance_id,
                parameters={**query, **form},
                status=self.initial_change_order_status,
                sequence=self._sequence,
            )
            if order.status in FINISHED_STATUSES:
                order.finish_time = order.create_time
            self._change_orders[order.change_order_id] = order
            if order.image_url is not None:
                app.image_url = order.image_url
                app.acr_instance_id = acr_instance_id
        return {"ChangeOrderId": order.change_order_id, "AppId": app_id, "IsNeedApproval": False}

    def describe_application_config(self, query: dict[str, str], form: dict[str, str]) -> dict:
        app_id = self._require(query, "AppId")
        with self._lock:
            app = self._find_app(app_id)
            data = {"AppId": app_id, "AppName": app_id, "PackageType": "Image", "Replicas": 1}
            if app.image_url is not None:
                data["ImageUrl"] = app.image_url
            if app.acr_instance_id is not None:
                data["AcrInstanceId"] = app.acr_instance_id
            return data

    def describe_change_order(self, query: dict[str, str], form: dict[str, str]) -> dict:
        change_order_id = self._require(query, "ChangeOrderId")
        with self._lock:
            order = self._change_orders.get(change_order_id)
            if order is None:
                raise ApiError("InvalidChangeOrder.NotFound", f"The change order {change_order_id} does not exist.")
            data = self._change_order_summary(order)
            data.update(
                {
                    "AppName": order.app_id,
                    "Auto": True,
                    "BatchWaitTime": 0,
                    "CurrentPipelineId": "",
                    "ErrorMessage": "" if order.status not in (3, 10) else "The deployment failed.",
                    "Pipelines": [],
                    "SubStatus": 0,
                    "SupportRollback": order.status in FINISHED_STATUSES,
                }
            )
            return data

    def describe_application_status(self, query: dict[str, str], form: dict[str, str]) -> dict:
        app_id = self._require(query, "AppId")
        with self._lock:
            app = self._find_app(app_id)
            last = self._last_change_order(app_id)
            data = {
                "AppId": app_id,
                "CurrentStatus": "RUNNING",
                "RunningInstances": 1,
                "CreateTime": str(int(app.create_time * 1000)),
                "EnableAgent": False,
                "ArmsAdvancedEnabled": "false",
                "SubStatus": "NORMAL",
                "LastChangeOrderId": "" if last is None else last.change_order_id,
                "LastChangeOrderRunning": last is not None and last.status not in FINISHED_STATUSES,
            }
            if last is not None:
                data["LastChangeOrderStatus"] = STATUS_NAMES[last.status]
            return data

    def list_change_orders(self, query: dict[str, str], form: dict[str, str]) -> dict:
        # OrderBy and Reverse are accepted but ignored, so the list is always newest first.
        app_id = self._require(query, "AppId")
        current_page = self._positive_integer(query, "CurrentPage", 1)
        page_size = self._positive_integer(query, "PageSize", DEFAULT_PAGE_SIZE)
        status_filter = query.get("CoStatus")
        key_filter = query.get("Key")
        with self._lock:
            self._find_app(app_id)
            orders = [order for order in self._change_orders.values() if order.app_id == app_id]
            if status_filter:
                orders = [order for order in orders if str(order.status) == status_filter]
            if key_filter:
                orders = [order for order in orders if key_filter in order.description]
            orders.sort(key=lambda order: order.sequence, reverse=True)
            first = (current_page - 1) * page_size
            page = orders[first : first + page_size]
            items = []
            for order in page:
                item = self._change_order_summary(order)
                item["Source"] = "api"
                if order.finish_time is not None:
                    item["FinishTime"] = _format_time(order.finish_time)
                items.append(item)
            return {
                "ChangeOrderList": items,
                "CurrentPage": current_page,
                "PageSize": page_size,
                "TotalSize": len(orders),
            }

    # Helpers. Callers hold self._lock where state is read.

    @staticmethod
    def _change_order_summary(order: ChangeOrder) -> dict:
        return {
            "AppId": order.app_id,
            "BatchCount": 1,
            "BatchType": "auto",
            "ChangeOrderId": order.change_order_id,
            "CoType": "Deploy application",
            "CoTypeCode": "CoDeploy",
            "CreateTime": _format_time(order.create_time),
            "Description": order.description,
            "Status": order.status,
        }

    def _find_app(self, app_id: str) -> Application:
        app = self._apps.get(app_id)
        if app is not None:
            return app
        if self.restrict_apps or not _APP_ID.fullmatch(app_id):
            raise ApiError("InvalidApplication.NotFound", f"The application {app_id} does not exist.")
        app = Application(app_id)
        self._apps[app_id] = app
        return app

    def _running_change_order(self, app_id: str) -> ChangeOrder | None:
        last = self._last_change_order(app_id)
        if last is not None and last.status not in FINISHED_STATUSES:
            return last
        return None

    def _last_change_order(self, app_id: str) -> ChangeOrder | None:
        orders = [order for order in self._change_orders.values() if order.app_id == app_id]
        return max(orders, key=lambda order: order.sequence, default=None)

    @staticmethod
    def _require(parameters: dict[str, str], name: str) -> str:
        value = parameters.get(name, "")
        if value == "":
            raise ApiError("InvalidParameter.NotEmpty", f"The parameter {name} is required.")
        return value

    @staticmethod
    def _positive_integer(parameters: dict[str, str], name: str, default: int) -> int:
        text = parameters.get(name)
        if text is None or text == "":
            return default
        if not text.isdigit() or int(text) < 1:
            raise ApiError("InvalidParameter.WithMessage", f"The parameter {name} must be a positive integer, got {text!r}.")
        return int(text)

    @staticmethod
    def _validate_deploy_parameters(query: dict[str, str]) -> None:
        for name in _INTEGER_PARAMETERS:
            text = query.get(name)
            if text is None:
                continue
            try:
                value = int(text)
            except ValueError:
                raise ApiError("InvalidParameter.WithMessage", f"The parameter {name} must be an integer, got {text!r}.")
            if name == "MinReadyInstanceRatio" and not -1 <= value <= 100:
                raise ApiError("InvalidParameter.WithMessage", f"The parameter {name} must be -1 to 100, got {value}.")
        scaling = query.get("AutoEnableApplicationScalingRule")
        if scaling is not None and scaling not in ("true", "false"):
            raise ApiError(
                "InvalidParameter.WithMessage",
                f"The parameter AutoEnableApplicationScalingRule must be true or false, got {scaling!r}.",
            )
        strategy = query.get("UpdateStrategy")
        if strategy is not None:
            try:
                parsed = json.loads(strategy)
            except ValueError as error:
                raise ApiError("InvalidParameter.WithMessage", f"The parameter UpdateStrategy is not JSON: {error}.")
            if not isinstance(parsed, dict) or "type" not in parsed:
                raise ApiError("InvalidParameter.WithMessage", "The parameter UpdateStrategy must be a JSON object with a type.")
        image_url = query.get("ImageUrl")
        if image_url is not None and (image_url == "" or any(character.isspace() for character in image_url)):
            raise ApiError("InvalidParameter.WithMessage", f"The parameter ImageUrl is not an image reference: {image_url!r}.")
