#!/usr/bin/env python3
"""wtt emulator: moto's server plus the few AWS behaviours wtt needs that moto lacks.

Usage:
    python3 emulator/wtt_emulator.py [--host 127.0.0.1] [--port 5000] [--quiet]

The program imports moto, patches moto's own response classes and models (all
state stays in moto's backends, so POST /moto-api/reset clears it), then runs
moto's server in the foreground. SIGTERM and SIGINT stop it cleanly.

Responses are produced by moto's serializer from botocore's service models, so
they have AWS's wire shapes (EC2 query XML in the 2016-11-15 namespace, Auto
Scaling XML in the 2011-01-01 namespace) and parse in aws-sdk-go-v2 and boto3.

See docs/emulator.md for what each addition does and does not emulate.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import signal
import sys
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any, Callable

# AWS-managed IAM policies (AmazonSSMManagedInstanceCore, which wtt attaches
# to the instance role for Session Manager access) exist in every account;
# moto loads them only when asked.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

# Before moto: some of its CPU goes at import (docs/emulator.md, "Speedups").
import speedups  # noqa: E402

import moto
import moto.ec2.models as ec2_models
import moto.ec2.models.tags as ec2_tag_models
import moto.ec2.utils as ec2_utils
from moto.autoscaling.exceptions import AutoscalingClientError
from moto.autoscaling.models import (
    ASG_NAME_TAG,
    AutoScalingBackend,
    FakeAutoScalingGroup,
    InstanceState,
)
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.exceptions import EC2ClientError, MissingParameterError
from moto.ec2.responses import EC2Response
from moto.ec2.utils import parse_user_data

# ---------------------------------------------------------------------------
# Registry of additions: (what it emulates, installer function name).
# Each installer is defined further down, one function per addition, and is
# called once by install_additions() before the server starts.
# ---------------------------------------------------------------------------
ADDITIONS: tuple[tuple[str, str], ...] = (
    ("ec2:DescribeReservedInstancesOfferings parameters, filters, Scope, more types", "add_reserved_instances_offerings"),
    ("ec2:PurchaseReservedInstancesOffering", "add_purchase_reserved_instances_offering"),
    ("ec2:DescribeReservedInstances", "add_describe_reserved_instances"),
    ("ec2:CreateTags/DeleteTags/DescribeTags on Reserved Instance ids", "add_reserved_instance_tagging"),
    ("test control: POST /moto-api/wtt/reserved-instances/expire ends every reservation's term now", "add_reserved_instance_expiry"),
    ("ec2:CreateLaunchTemplateVersion SourceVersion + UserData", "add_launch_template_version_source"),
    ("autoscaling: instances spread over subnets/AZs, launched with the template's settings", "add_asg_instance_placement"),
    ("autoscaling: scale-in keeps AZs balanced (Default termination policy)", "add_asg_balanced_scale_in"),
    ("autoscaling: target-group membership follows the group", "add_asg_target_group_sync"),
    ("autoscaling:UpdateAutoScalingGroup CapacityRebalance", "add_asg_update_capacity_rebalance"),
    ("autoscaling:StartInstanceRefresh", "add_start_instance_refresh"),
    ("autoscaling:DescribeInstanceRefreshes", "add_describe_instance_refreshes"),
    ("autoscaling:CancelInstanceRefresh", "add_cancel_instance_refresh"),
    ("iam:RemoveRoleFromInstanceProfile NoSuchEntity when the role is not in the profile", "add_remove_role_not_in_profile"),
    ("ec2:AssociateAddress reassociation takes the address from the instance that had it", "add_eip_reassociation"),
    ("ec2:DescribeRouteTables a route to a detached internet gateway is a blackhole", "add_route_blackhole"),
    ("ec2:CreateVpcEndpoint ClientToken idempotency", "add_vpc_endpoint_client_token"),
    ("ec2:RunInstances ClientToken idempotency", "add_run_instances_client_token"),
)

# ===========================================================================
# Reserved Instances (EC2)
# ===========================================================================

# AWS Reserved Instance ids are UUIDs, e.g. "af9f760e-6f91-4559-85f7-4980eexample".
_RI_ID_RE = re.compile(
    r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z", re.I
)


def _reserved_instances(ec2_backend: Any) -> dict[str, dict[str, Any]]:
    """The Reserved Instances of one account+region, kept on moto's EC2 backend."""
    store = getattr(ec2_backend, "wtt_reserved_instances", None)
    if store is None:
        store = {}
        ec2_backend.wtt_reserved_instances = store
    return store


def _ri_state(ri: dict[str, Any]) -> str:
    if ri["State"] == "active" and utcnow() >= ri["End"]:
        return "retired"
    return ri["State"]


def _ri_view(ec2_backend: Any, ri: dict[str, Any]) -> dict[str, Any]:
    """The AWS ReservedInstances structure for one record (tags and state live)."""
    view = {k: v for k, v in ri.items() if not k.startswith("_")}
    view["State"] = _ri_state(ri)
    tags = ec2_backend.tags.get(ri["ReservedInstancesId"], {})
    view["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return view


# Instance types moto has no offerings for, with an illustrative on-demand-like
# hourly rate. Offerings for them are appended after moto's own, so moto's ids
# ("<region>-ri-off-0001"...) are unchanged.
_EXTRA_OFFERING_TYPES = {
    "t2.nano": 0.0046,
    "t2.small": 0.018,
    "t3.nano": 0.0041,
    "t3.micro": 0.0082,
    "t3.medium": 0.0329,
    "t4g.micro": 0.0067,
}
_UPFRONT_SHARE = {"No Upfront": 0.0, "Partial Upfront": 0.5, "All Upfront": 1.0}


def _extra_offerings(region: str, zones: list[str], first_number: int) -> list[dict[str, Any]]:
    from moto.ec2.models.reserved_instances import ReservedInstancesOffering

    out = []
    number = first_number
    for itype, hourly in _EXTRA_OFFERING_TYPES.items():
        for zone in [*zones, None]:
            for otype, share in _UPFRONT_SHARE.items():
                yearly = hourly * 8760 * 0.6  # a one-year standard RI saves ~40%
                out.append(
                    ReservedInstancesOffering(
                        ReservedInstancesOfferingId=f"{region}-ri-off-{number:04d}",
                        InstanceType=itype,
                        AvailabilityZone=zone,
                        ProductDescription="Linux/UNIX",
                        Duration=31536000,
                        UsagePrice=round(hourly * 0.6 * (1 - share), 4),
                        FixedPrice=round(yearly * share, 2),
                        CurrencyCode="USD",
                        InstanceTenancy="default",
                        OfferingClass="standard",
                        OfferingType=otype,
                        Marketplace=False,
                    )
                )
                number += 1
    return out


def _offering_view(offering: dict[str, Any]) -> dict[str, Any]:
    view = dict(offering)
    view.setdefault("Scope", "Availability Zone" if offering.get("AvailabilityZone") else "Region")
    return view


# DescribeReservedInstancesOfferings filter name -> getter on an offering view.
_OFFERING_FILTERS: dict[str, Any] = {
    "availability-zone": lambda o: o.get("AvailabilityZone"),
    "duration": lambda o: str(o["Duration"]),
    "fixed-price": lambda o: float(o["FixedPrice"]),
    "instance-type": lambda o: o["InstanceType"],
    "marketplace": lambda o: str(bool(o.get("Marketplace"))).lower(),
    "product-description": lambda o: o["ProductDescription"],
    "reserved-instances-offering-id": lambda o: o["ReservedInstancesOfferingId"],
    "scope": lambda o: o["Scope"],
    "usage-price": lambda o: float(o["UsagePrice"]),
    # Not an AWS filter name, but moto's own DescribeReservedInstancesOfferings accepts it.
    "offering-type": lambda o: o["OfferingType"],
}


def _value_matches(value: Any, values: list[str]) -> bool:
    if isinstance(value, float):
        try:
            return any(float(v) == value for v in values)
        except ValueError:
            return False
    return value in values


def add_reserved_instances_offerings() -> None:
    """DescribeReservedInstancesOfferings: honour the request parameters
    (InstanceType, AvailabilityZone, ProductDescription, OfferingType,
    OfferingClass, InstanceTenancy, Min/MaxDuration, ReservedInstancesOfferingIds),
    AWS's filters, MaxResults/NextToken (default page 100), report Scope, and
    offer more instance types (_EXTRA_OFFERING_TYPES).

    moto ignores every request parameter (so asking for one instance type
    returns all offerings), answers nothing for any filter it does not know,
    never sets Scope and only offers t2.micro, t3.small and m5.large.
    """
    from moto.ec2.models.reserved_instances import ReservedInstancesBackend

    orig_ensure = ReservedInstancesBackend._ensure_reserved_offerings

    def _ensure_reserved_offerings(self: Any) -> None:
        if getattr(self, "_ri_offerings_generated", False):
            return
        orig_ensure(self)
        offerings = self._ri_offerings[self.region_name]
        zones = [z.name for z in self.describe_availability_zones()]
        offerings.extend(_extra_offerings(self.region_name, zones, len(offerings) + 1))

    def describe_reserved_instances_offerings(self: EC2Response) -> ActionResult:
        filters = self._filters_from_querystring()
        wanted = {
            "InstanceType": self._get_param("InstanceType"),
            "AvailabilityZone": self._get_param("AvailabilityZone"),
            "ProductDescription": self._get_param("ProductDescription"),
            "OfferingType": self._get_param("OfferingType"),
            "OfferingClass": self._get_param("OfferingClass"),
            "InstanceTenancy": self._get_param("InstanceTenancy"),
        }
        ids = self._get_param("ReservedInstancesOfferingIds", []) or []
        min_duration = self._get_param("MinDuration")
        max_duration = self._get_param("MaxDuration")
        max_results = int(self._get_param("MaxResults") or 100)
        token = self._get_param("NextToken")
        self.error_on_dryrun()
        for name in filters:
            if name not in _OFFERING_FILTERS:
                raise EC2ClientError("InvalidParameterValue", f"The filter '{name}' is invalid")

        result = []
        for offering in self.ec2_backend.describe_reserved_instances_offerings():
            view = _offering_view(offering)
            if any(v and view.get(k) != v for k, v in wanted.items()):
                continue
            if ids and view["ReservedInstancesOfferingId"] not in ids:
                continue
            if min_duration is not None and view["Duration"] < int(min_duration):
                continue
            if max_duration is not None and view["Duration"] > int(max_duration):
                continue
            if all(_value_matches(_OFFERING_FILTERS[n](view), v) for n, v in filters.items()):
                result.append(view)
        start = int(token) if token and str(token).isdigit() else 0
        page = result[start : start + max_results]
        next_token = str(start + max_results) if start + max_results < len(result) else None
        return ActionResult({"ReservedInstancesOfferings": page, "NextToken": next_token})

    ReservedInstancesBackend._ensure_reserved_offerings = _ensure_reserved_offerings  # type: ignore[method-assign]
    EC2Response.describe_reserved_instances_offerings = describe_reserved_instances_offerings  # type: ignore[method-assign]


def add_purchase_reserved_instances_offering() -> None:
    """PurchaseReservedInstancesOffering: record an active RI built from the offering.

    The offering is looked up in the list moto's DescribeReservedInstancesOfferings
    returns (moto generates it once per backend with stable ids such as
    "us-east-1-ri-off-0019"), so every priced field matches what the caller saw.
    """

    def purchase_reserved_instances_offering(self: EC2Response) -> ActionResult:
        offering_id = self._get_param("ReservedInstancesOfferingId")
        count = self._get_param("InstanceCount")
        limit = self._get_param("LimitPrice") or {}
        if not offering_id:
            raise MissingParameterError("ReservedInstancesOfferingId")
        if count is None:
            raise MissingParameterError("InstanceCount")
        count = int(count)
        if count < 1:
            raise EC2ClientError(
                "InvalidParameterValue",
                f"Value ({count}) for parameter instanceCount is invalid. "
                "Instance count must be at least 1.",
            )
        offering = next(
            (
                o
                for o in self.ec2_backend.describe_reserved_instances_offerings()
                if o["ReservedInstancesOfferingId"] == offering_id
            ),
            None,
        )
        if offering is None:
            raise EC2ClientError(
                "InvalidReservedInstancesOfferingId",
                f"The Reserved Instances offering '{offering_id}' does not exist.",
            )
        fixed = float(offering.get("FixedPrice") or 0.0)
        if limit.get("Amount") is not None and fixed * count > float(limit["Amount"]):
            raise EC2ClientError(
                "ReservedInstancesLimitPriceExceeded",
                f"The upfront price of {fixed * count} "
                f"{offering.get('CurrencyCode', 'USD')} exceeds the limit price "
                f"of {limit['Amount']} {limit.get('CurrencyCode', 'USD')}.",
            )
        self.error_on_dryrun()

        start = utcnow()
        duration = int(offering.get("Duration") or 0)
        zone = offering.get("AvailabilityZone")
        ri_id = str(uuid.uuid4())
        _reserved_instances(self.ec2_backend)[ri_id] = {
            "ReservedInstancesId": ri_id,
            "InstanceType": offering.get("InstanceType"),
            "AvailabilityZone": zone,
            "Scope": offering.get("Scope")
            or ("Availability Zone" if zone else "Region"),
            "Start": start,
            "End": start + timedelta(seconds=duration),
            "Duration": duration,
            "FixedPrice": fixed,
            "UsagePrice": float(offering.get("UsagePrice") or 0.0),
            "InstanceCount": count,
            "ProductDescription": offering.get("ProductDescription"),
            "State": "active",
            "InstanceTenancy": offering.get("InstanceTenancy", "default"),
            "CurrencyCode": offering.get("CurrencyCode", "USD"),
            "OfferingType": offering.get("OfferingType"),
            "OfferingClass": offering.get("OfferingClass", "standard"),
            "RecurringCharges": copy.deepcopy(offering.get("RecurringCharges") or []),
            "_OfferingId": offering_id,
        }
        return ActionResult({"ReservedInstancesId": ri_id})

    EC2Response.purchase_reserved_instances_offering = purchase_reserved_instances_offering  # type: ignore[method-assign]


# Filter name -> function(record view) returning the comparable string value(s).
_RI_FILTERS: dict[str, Any] = {
    "availability-zone": lambda ri: ri.get("AvailabilityZone"),
    "duration": lambda ri: str(ri["Duration"]),
    "fixed-price": lambda ri: ri["FixedPrice"],
    "instance-type": lambda ri: ri["InstanceType"],
    "product-description": lambda ri: ri["ProductDescription"],
    "reserved-instances-id": lambda ri: ri["ReservedInstancesId"],
    "scope": lambda ri: ri["Scope"],
    "state": lambda ri: ri["State"],
    "usage-price": lambda ri: ri["UsagePrice"],
}


def _ri_matches(ri: dict[str, Any], name: str, values: list[str]) -> bool:
    tags = {t["Key"]: t["Value"] for t in ri["Tags"]}
    if name == "tag-key":
        return any(v in tags for v in values)
    if name.startswith("tag:"):
        return tags.get(name[4:]) in values
    getter = _RI_FILTERS.get(name)
    if getter is None:
        raise EC2ClientError("InvalidParameterValue", f"The filter '{name}' is invalid")
    return _value_matches(getter(ri), values)


def add_describe_reserved_instances() -> None:
    """DescribeReservedInstances: ids, Filters, OfferingClass and OfferingType."""

    def describe_reserved_instances(self: EC2Response) -> ActionResult:
        ids = self._get_param("ReservedInstancesIds", []) or []
        filters = self._filters_from_querystring()
        offering_class = self._get_param("OfferingClass")
        offering_type = self._get_param("OfferingType")
        self.error_on_dryrun()

        store = _reserved_instances(self.ec2_backend)
        missing = [i for i in ids if i not in store]
        if missing:
            raise EC2ClientError(
                "InvalidReservedInstancesId",
                f"Invalid Reserved Instance id(s): {', '.join(missing)}",
            )
        result = []
        for ri in store.values():
            if ids and ri["ReservedInstancesId"] not in ids:
                continue
            view = _ri_view(self.ec2_backend, ri)
            if offering_class and view["OfferingClass"] != offering_class:
                continue
            if offering_type and view["OfferingType"] != offering_type:
                continue
            if all(_ri_matches(view, n, v) for n, v in filters.items()):
                result.append(view)
        return ActionResult({"ReservedInstances": result})

    EC2Response.describe_reserved_instances = describe_reserved_instances  # type: ignore[method-assign]


def add_reserved_instance_expiry() -> None:
    """A test control: end the term of every Reserved Instance now, so they
    show as "retired" (as AWS shows them after their term). Reservations
    cannot be deleted; this lets one emulator measure many purchases from
    the same starting coverage."""
    import json

    from moto.ec2.models import ec2_backends
    from moto.moto_api._internal import urls

    def expire(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
        if request.method != "POST":
            return 405, {}, json.dumps({"Error": "POST to expire Reserved Instances"})
        now, count = utcnow(), 0
        for regions in list(ec2_backends.values()):
            for backend in list(regions.values()):
                for ri in getattr(backend, "wtt_reserved_instances", {}).values():
                    if _ri_state(ri) == "active":
                        ri["End"] = now
                        count += 1
        return 200, {}, json.dumps({"expired": count})

    urls.url_paths["{0}/moto-api/wtt/reserved-instances/expire"] = expire


def add_reserved_instance_tagging() -> None:
    """Let CreateTags/DeleteTags/DescribeTags accept the UUID ids of Reserved Instances.

    moto knows a resource type "reserved-instance" but only for undashed hex
    ids, raises NotImplementedError when asked whether one exists, and names
    the type "reserved-instance" where AWS says "reserved-instances".
    """
    orig_get_prefix = ec2_utils.get_prefix
    orig_is_valid = ec2_utils.is_valid_resource_id
    orig_exist = ec2_models.EC2Backend.do_resources_exist

    def get_prefix(resource_id: str) -> str:
        if _RI_ID_RE.match(resource_id):
            return ec2_utils.EC2_RESOURCE_TO_PREFIX["reserved-instance"]
        return orig_get_prefix(resource_id)

    def is_valid_resource_id(resource_id: str) -> bool:
        return bool(_RI_ID_RE.match(resource_id)) or orig_is_valid(resource_id)

    def do_resources_exist(self: Any, resource_ids: list[str]) -> bool:
        ri_ids = [r for r in resource_ids if _RI_ID_RE.match(r)]
        unknown = [r for r in ri_ids if r not in _reserved_instances(self)]
        if unknown:
            raise EC2ClientError(
                "InvalidReservedInstancesId",
                f"Invalid Reserved Instance id(s): {', '.join(unknown)}",
            )
        rest = [r for r in resource_ids if r not in ri_ids]
        return orig_exist(self, rest) if rest else True

    for module in (ec2_utils, ec2_models, ec2_tag_models):
        module.get_prefix = get_prefix  # type: ignore[attr-defined]
    for module in (ec2_utils, ec2_models):
        module.is_valid_resource_id = is_valid_resource_id  # type: ignore[attr-defined]
    ec2_models.EC2Backend.do_resources_exist = do_resources_exist  # type: ignore[method-assign]
    # DescribeTags reports (and filters on) AWS's resource type name.
    ec2_utils.EC2_PREFIX_TO_RESOURCE[ec2_utils.EC2_RESOURCE_TO_PREFIX["reserved-instance"]] = (
        "reserved-instances"
    )


# ===========================================================================
# Launch templates (EC2)
# ===========================================================================


def add_launch_template_version_source() -> None:
    """CreateLaunchTemplateVersion: honour SourceVersion and decode UserData.

    moto ignores SourceVersion (the new version holds only the given data) and
    stores UserData as a plain string, which breaks Auto Scaling launches from
    that version. Here the source version's data is copied and each top-level
    field given in LaunchTemplateData replaces the source's field (AWS: "launch
    template parameters in LaunchTemplateData take precedence").
    """

    def create_launch_template_version(self: EC2Response) -> ActionResult:
        name = self._get_param("LaunchTemplateName")
        tmpl_id = self._get_param("LaunchTemplateId")
        if tmpl_id:
            template = self.ec2_backend.get_launch_template(tmpl_id)
        elif name:
            template = self.ec2_backend.get_launch_template_by_name(name)
        else:
            raise MissingParameterError("LaunchTemplateId or LaunchTemplateName")
        description = self._get_param("VersionDescription")
        given = self._get_param("LaunchTemplateData", {}) or {}
        source = self._get_param("SourceVersion")
        self.error_on_dryrun()

        data: dict[str, Any] = {}
        if source is not None:
            data = copy.deepcopy(template.get_version(source).data)
        data.update(given)
        if isinstance(data.get("UserData"), (str, bytes)):
            data["UserData"] = parse_user_data(data["UserData"])
        if data.get("UserData") is None:
            data.pop("UserData", None)

        version = template.create_version(data, description)
        return ActionResult(
            {
                "LaunchTemplateVersion": {
                    "CreateTime": version.create_time,
                    "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
                    "DefaultVersion": template.is_default(version),
                    "LaunchTemplateData": version.data,
                    "LaunchTemplateId": template.id,
                    "LaunchTemplateName": template.name,
                    "VersionDescription": version.description,
                    "VersionNumber": version.number,
                }
            }
        )

    EC2Response.create_launch_template_version = create_launch_template_version  # type: ignore[method-assign]


# ===========================================================================
# Auto Scaling groups: placement, scale-in, target groups
# ===========================================================================


def _group_lt_version(group: FakeAutoScalingGroup) -> Any:
    """The launch template version the group launches from now, or None."""
    if group.ec2_launch_template is None:
        return None
    return group.ec2_launch_template.get_version(group.launch_template_version)


def _live_states(group: FakeAutoScalingGroup) -> list[InstanceState]:
    return [
        s
        for s in group.instance_states
        if s.instance.state not in ("terminated", "shutting-down")
    ]


def _next_placement(group: FakeAutoScalingGroup) -> tuple[str | None, str]:
    """(subnet id or None, AZ) for the next instance: the least-used AZ first,
    then the least-used subnet, ties broken by the group's own ordering."""
    az_count: Counter[str] = Counter()
    subnet_count: Counter[str] = Counter()
    for state in _live_states(group):
        az_count[state.instance.availability_zone] += 1
        subnet_count[state.instance.subnet_id] += 1
    if group.vpc_zone_identifier:
        subnet_ids = [s.strip() for s in group.vpc_zone_identifier.split(",") if s.strip()]
        ec2 = group.autoscaling_backend.ec2_backend
        zone = {s.id: s.availability_zone for s in ec2.describe_subnets(subnet_ids=subnet_ids)}
        best = min(
            range(len(subnet_ids)),
            key=lambda i: (az_count[zone[subnet_ids[i]]], subnet_count[subnet_ids[i]], i),
        )
        return subnet_ids[best], zone[subnet_ids[best]]
    zones = list(group.availability_zones)
    best = min(range(len(zones)), key=lambda i: (az_count[zones[i]], i))
    return None, zones[best]


def _as_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def _template_launch_kwargs(group: FakeAutoScalingGroup, version: Any) -> dict[str, Any]:
    """run_instances() arguments taken from a launch template version."""
    data = version.data
    sg_ids = list(data.get("SecurityGroupIds") or [])
    nics = data.get("NetworkInterfaces") or []
    nic0 = next((n for n in nics if int(n.get("DeviceIndex", 0) or 0) == 0), None)
    public_ip = None
    if nic0:
        sg_ids += list(nic0.get("Groups") or [])
        public_ip = _as_bool(nic0.get("AssociatePublicIpAddress"))
    user_data = data.get("UserData")
    if isinstance(user_data, (str, bytes)):
        user_data = parse_user_data(user_data)
    monitoring = (data.get("Monitoring") or {}).get("Enabled")
    return {
        "image_id": version.image_id,
        "user_data": user_data,
        "security_group_names": list(data.get("SecurityGroups") or []),
        "security_group_ids": list(dict.fromkeys(sg_ids)),
        # None lets moto fall back to the subnet's MapPublicIpOnLaunch, as AWS does.
        "associate_public_ip": public_ip,
        "metadata_options": dict(data.get("MetadataOptions") or {}),
        "key_name": data.get("KeyName"),
        "instance_type": version.instance_type or "m1.small",
        "ebs_optimized": bool(_as_bool(data.get("EbsOptimized"))),
        "monitoring_state": "enabled" if _as_bool(monitoring) else "disabled",
        "launch_template": {
            "LaunchTemplateId": version.template.id,
            "Version": str(version.number),
        },
        "profile": data.get("IamInstanceProfile") or {},
    }


def _config_launch_kwargs(group: FakeAutoScalingGroup) -> dict[str, Any]:
    """run_instances() arguments taken from a launch configuration (moto's rules)."""
    lc = group.launch_config
    return {
        "image_id": lc.image_id,
        "user_data": lc.user_data,
        "security_group_names": list(lc.security_groups or []),
        "security_group_ids": [],
        "associate_public_ip": lc.associate_public_ip_address,
        "metadata_options": dict(lc.metadata_options or {})
        if isinstance(lc.metadata_options, dict)
        else {},
        "key_name": lc.key_name,
        "instance_type": lc.instance_type,
        "ebs_optimized": bool(lc.ebs_optimized),
        "monitoring_state": "enabled" if lc.instance_monitoring_enabled else "disabled",
        "launch_config": lc,
        "profile": {"Name": lc.iam_instance_profile} if lc.iam_instance_profile else {},
    }


def _launch_one(group: FakeAutoScalingGroup, tags: dict[str, str]) -> InstanceState:
    ec2 = group.autoscaling_backend.ec2_backend
    version = _group_lt_version(group)
    if version is not None:
        args = _template_launch_kwargs(group, version)
    else:
        args = _config_launch_kwargs(group)
    subnet_id, zone = _next_placement(group)
    image_id = args.pop("image_id")
    user_data = args.pop("user_data")
    sg_names = args.pop("security_group_names")
    profile = args.pop("profile")
    reservation = ec2.run_instances(
        image_id,
        1,
        user_data,
        sg_names,
        tags={"instance": dict(tags)},
        placement=zone,
        subnet_id=subnet_id,
        region_name=group.region,
        is_instance_type_default=False,
        **args,
    )
    instance = reservation.instances[0]
    if profile.get("Arn") or profile.get("Name"):
        try:
            ec2.associate_iam_instance_profile(
                instance_id=instance.id,
                iam_instance_profile_name=profile.get("Name"),
                iam_instance_profile_arn=profile.get("Arn"),
            )
        except Exception:  # profile unknown to moto's IAM: launch without it
            pass
    instance.autoscaling_group = group
    instance.wtt_lt_version = version.number if version is not None else None
    state = InstanceState(
        instance, protected_from_scale_in=group.new_instances_protected_from_scale_in
    )
    group.instance_states.append(state)
    return state


def add_asg_instance_placement() -> None:
    """Auto Scaling launches: balanced over the group's subnets/AZs, and with the
    launch template version's security groups (SecurityGroupIds, SecurityGroups,
    NetworkInterfaces[0].Groups), AssociatePublicIpAddress (absent: the subnet's
    MapPublicIpOnLaunch), MetadataOptions, KeyName, IamInstanceProfile,
    Monitoring and EbsOptimized. Instances remember the template version they
    were launched from, which DescribeAutoScalingInstances/Groups report.

    moto puts every instance in the first subnet, reads security groups only
    from the template's default version, always sets a public IP and ignores
    MetadataOptions.
    """

    def replace_autoscaling_group_instances(
        self: FakeAutoScalingGroup, count_needed: int, propagated_tags: dict[str, str]
    ) -> None:
        tags = dict(propagated_tags)
        tags[ASG_NAME_TAG] = self.name
        version = _group_lt_version(self)
        if version is not None:
            tags.update(version.instance_tags)
        for _ in range(count_needed):
            _launch_one(self, tags)

    def launch_template(self: InstanceState) -> dict[str, Any] | None:
        group = self.auto_scaling_group
        if group is None or group.ec2_launch_template is None:
            return None
        number = getattr(self.instance, "wtt_lt_version", None)
        if number is None:
            number = group.ec2_launch_template.default_version_number
        return {
            "LaunchTemplateId": group.ec2_launch_template.id,
            "LaunchTemplateName": group.ec2_launch_template.name,
            "Version": str(number),
        }

    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_autoscaling_group_instances  # type: ignore[method-assign]
    InstanceState.launch_template = property(launch_template)  # type: ignore[assignment,method-assign]


def _scale_in_victims(group: FakeAutoScalingGroup, count: int) -> list[InstanceState]:
    """Approximates the Default termination policy: from the AZ with the most
    instances, prefer instances not on the group's current launch template
    version, then the oldest."""
    in_service = [s for s in group.instance_states if s.lifecycle_state == "InService"]
    per_az = Counter(s.instance.availability_zone for s in in_service)
    version = _group_lt_version(group)
    current = version.number if version is not None else None
    pool = [s for s in in_service if not s.protected_from_scale_in]
    victims: list[InstanceState] = []
    while pool and len(victims) < count:
        zones = {s.instance.availability_zone for s in pool}
        zone = max(zones, key=lambda z: (per_az[z], z))
        in_zone = [s for s in pool if s.instance.availability_zone == zone]
        victim = min(
            in_zone,
            key=lambda s: (
                0 if getattr(s.instance, "wtt_lt_version", current) != current else 1,
                s.instance.launch_time,
            ),
        )
        victims.append(victim)
        pool.remove(victim)
        per_az[zone] -= 1
    return victims


def add_asg_balanced_scale_in() -> None:
    """Scale-in (SetDesiredCapacity, UpdateAutoScalingGroup, ExecutePolicy...)
    removes instances so the AZs stay balanced; moto removes the first ones in
    its list, which can empty an AZ."""
    orig = FakeAutoScalingGroup.set_desired_capacity

    def set_desired_capacity(self: FakeAutoScalingGroup, new_capacity: int | None) -> None:
        target = new_capacity if new_capacity is not None else self.min_size
        mixed = self.mixed_instances_policy and len(
            self.mixed_instances_policy.get("LaunchTemplate", {}).get("Overrides", [])
        )
        if target is not None and not mixed:
            excess = len(self.active_instances()) - int(target)
            if excess > 0:
                victims = _scale_in_victims(self, excess)
                # moto removes the first unprotected states of the list.
                self.instance_states = victims + [
                    s for s in self.instance_states if s not in victims
                ]
        orig(self, new_capacity)

    FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity  # type: ignore[method-assign]


def _sync_target_groups(group: FakeAutoScalingGroup) -> None:
    """Deregister, from the group's target groups, instances that have left the group."""
    current = {s.instance.id for s in group.instance_states}
    known: set[str] = getattr(group, "wtt_members", set())
    gone = known - current
    if gone:
        elbv2 = group.autoscaling_backend.elbv2_backend
        for arn in group.target_group_arns or []:
            target_group = elbv2.target_groups.get(arn)
            if target_group is None:
                continue
            ids = [i for i in gone if i in target_group.targets]
            if ids:
                target_group.deregister([{"Id": i} for i in ids])
    group.wtt_members = current


def add_asg_target_group_sync() -> None:
    """Instances leaving a group (scale-in, detach, delete, refresh) are
    deregistered from its target groups, and replacements launched after an
    EC2 TerminateInstances are registered. moto only ever registers, and only
    on some paths."""
    orig_group_set = FakeAutoScalingGroup.set_desired_capacity
    orig_update = AutoScalingBackend.update_attached_target_groups
    orig_notify = AutoScalingBackend.notify_terminate_instances

    def set_desired_capacity(self: FakeAutoScalingGroup, new_capacity: int | None) -> None:
        orig_group_set(self, new_capacity)
        _sync_target_groups(self)

    def update_attached_target_groups(self: AutoScalingBackend, group_name: str) -> None:
        orig_update(self, group_name)
        _sync_target_groups(self.autoscaling_groups[group_name])

    def notify_terminate_instances(self: AutoScalingBackend, instance_ids: list[str]) -> None:
        orig_notify(self, instance_ids)
        for name in list(self.autoscaling_groups):
            self.update_attached_target_groups(name)

    FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity  # type: ignore[method-assign]
    AutoScalingBackend.update_attached_target_groups = update_attached_target_groups  # type: ignore[method-assign]
    AutoScalingBackend.notify_terminate_instances = notify_terminate_instances  # type: ignore[method-assign]


def add_asg_update_capacity_rebalance() -> None:
    """UpdateAutoScalingGroup: honour CapacityRebalance. moto reads it only in
    CreateAutoScalingGroup and silently drops it on update."""
    orig = AutoScalingResponse.update_auto_scaling_group

    def update_auto_scaling_group(self: AutoScalingResponse) -> ActionResult:
        result = orig(self)
        value = self._get_bool_param("CapacityRebalance", None)
        if value is not None:
            group = self.autoscaling_backend.autoscaling_groups[self._get_param("AutoScalingGroupName")]
            group.capacity_rebalance = value
        return result

    AutoScalingResponse.update_auto_scaling_group = update_auto_scaling_group  # type: ignore[method-assign]


# ===========================================================================
# Instance refresh (Auto Scaling)
# ===========================================================================

# A refresh that has not ended yet.
_ACTIVE_REFRESH = ("Pending", "InProgress", "Cancelling")
# How often, with the data plane on, running refreshes are moved on.
REFRESH_TICK = 0.2
# The data plane, when it runs (main sets it): a refresh then waits for what
# AWS waits for, in the plane's scaled time: health checks, warmup, draining.
# Without it a new instance counts as ready at once and every
# DescribeInstanceRefreshes call moves the refresh on by one batch.
_plane: Any = None


def _refreshes(backend: AutoScalingBackend) -> dict[str, list[dict[str, Any]]]:
    """Instance refreshes per group name, newest first, kept on moto's backend."""
    store = getattr(backend, "wtt_instance_refreshes", None)
    if store is None:
        store = {}
        backend.wtt_instance_refreshes = store
    return store


def _get_group(backend: AutoScalingBackend, name: str | None) -> FakeAutoScalingGroup:
    group = backend.autoscaling_groups.get(name or "")
    if group is None:
        raise AutoscalingClientError(
            "ValidationError", f"AutoScalingGroup name not found - AutoScalingGroup {name} not found"
        )
    return group


def _apply_desired_configuration(group: FakeAutoScalingGroup, desired: dict[str, Any]) -> None:
    spec = desired.get("LaunchTemplate")
    mixed = desired.get("MixedInstancesPolicy")
    if not spec and not mixed:
        return
    group.mixed_instances_policy = mixed
    group._set_launch_configuration(None, spec or {}, mixed)  # type: ignore[arg-type]
    group.launch_config = None  # type: ignore[assignment]
    group.launch_configuration_name = None


def refresh_bounds(desired: int, prefs: dict[str, Any]) -> tuple[int, int]:
    """(instances kept in service, instances in service or pending at most)
    during a rolling refresh: MinHealthyPercentage (default 90) of the desired
    capacity rounded up, as AWS documents, and MaxHealthyPercentage (default
    100) rounded down, so the group never exceeds it. AWS replaces at least
    one instance at a time, even when the two leave no room (100% of one)."""
    min_pct, max_pct = prefs.get("MinHealthyPercentage"), prefs.get("MaxHealthyPercentage")
    min_pct = 90 if min_pct in (None, "") else int(min_pct)
    max_pct = 100 if max_pct in (None, "") else int(max_pct)
    low = -(-desired * min_pct // 100)
    high = max(desired, desired * max_pct // 100)
    return max(0, min(low, high - 1)), high


def _stale_instances(group: FakeAutoScalingGroup, prefs: dict[str, Any]) -> list[str]:
    """The group's instances the refresh replaces, in the group's order."""
    version = _group_lt_version(group)
    current = version.number if version is not None else None
    refresh_protected = prefs.get("ScaleInProtectedInstances") == "Refresh"
    return [
        s.instance.id
        for s in group.instance_states
        if s.lifecycle_state == "InService"
        and (refresh_protected or not s.protected_from_scale_in)
        and not (
            _as_bool(prefs.get("SkipMatching"))
            and current is not None
            and getattr(s.instance, "wtt_lt_version", None) == current
        )
    ]


def _pick_old(group: FakeAutoScalingGroup, todo: list[str], count: int) -> list[str]:
    """count of the instances still to replace, each from the AZ that has the
    most live instances then, oldest first: the group stays balanced while
    replacements fill the emptiest AZ."""
    live = _live_states(group)
    per_az = Counter(s.instance.availability_zone for s in live)
    pool = sorted((s for s in live if s.instance.id in todo), key=lambda s: s.instance.launch_time)
    picked: list[str] = []
    while pool and len(picked) < count:
        victim = max(pool, key=lambda s: per_az[s.instance.availability_zone])  # the first, so the oldest
        picked.append(victim.instance.id)
        pool.remove(victim)
        per_az[victim.instance.availability_zone] -= 1
    return picked


def _drain_seconds(group: FakeAutoScalingGroup) -> float:
    """How long a deregistered instance drains before it is terminated: the
    longest deregistration delay of the group's target groups, in the data
    plane's time (none without it)."""
    if _plane is None:
        return 0.0
    elbv2 = group.autoscaling_backend.elbv2_backend
    delays = [
        float(tg.attributes.get("deregistration_delay.timeout_seconds", 300))
        for arn in group.target_group_arns or []
        if (tg := elbv2.target_groups.get(arn)) is not None and tg.load_balancer_arns
    ]
    return max(delays, default=0.0) * _plane.config.time_scale


def _warmed_up(group: FakeAutoScalingGroup, r: dict[str, Any], instance_id: str, launched: float, now: float) -> bool:
    """A new instance counts as in service once its warmup (InstanceWarmup,
    else the group's health check grace period) has passed and the load
    balancer finds it healthy in every target group of the group (no target
    group: its time server answers). Without the data plane: at once."""
    if _plane is None:
        return True
    prefs = r["Preferences"]
    warmup = prefs.get("InstanceWarmup")
    warmup = float(warmup) if warmup not in (None, "") else float(group.health_check_grace_period or 0)
    if now - launched < warmup * _plane.config.time_scale:
        return False
    arns = group.target_group_arns or []
    if arns:
        return all(
            (h := _plane.target_health(arn, instance_id)) is not None and h.state == "healthy" for arn in arns
        )
    machine = _plane.machines.get(instance_id)
    return machine is not None and machine.status == "serving"


def _retire(group: FakeAutoScalingGroup, r: dict[str, Any], ids: list[str], now: float) -> None:
    """Take old instances out of service: out of the group and its target
    groups at once (the load balancer drains them), terminated once drained."""
    if not ids:
        return
    group.instance_states = [s for s in group.instance_states if s.instance.id not in ids]
    _sync_target_groups(group)
    r["_todo"] = [i for i in r["_todo"] if i not in ids]
    until = now + _drain_seconds(group)
    r["_draining"].extend((i, until) for i in ids)
    _terminate_drained(group.autoscaling_backend, r, now)  # nothing to drain: at once


def _terminate_drained(backend: AutoScalingBackend, r: dict[str, Any], now: float) -> None:
    due = [i for i, until in r["_draining"] if until <= now]
    if not due:
        return
    r["_draining"] = [(i, until) for i, until in r["_draining"] if until > now]
    ec2 = backend.ec2_backend
    live = [i for i in due if i in {inst.id for inst in ec2.all_instances()}]
    if live:
        ec2.terminate_instances(live)


def _follow_replacements(group: FakeAutoScalingGroup, r: dict[str, Any], members: set[str], now: float) -> None:
    """A new instance the group replaced meanwhile (its health check failed)
    is not in service: the batch waits for the group's replacement instead,
    as AWS's refresh does, its warmup counted from now."""
    lost = [i for i, _ in r["_launched"] if i not in members]
    if not lost:
        return
    known = {i for i, _ in r["_launched"]} | set(r["_todo"]) | set(r["_new"])
    fresh = [s.instance.id for s in group.instance_states if s.instance.id not in known]
    swap = dict(zip(lost, fresh))
    r["_launched"] = [(swap[i], now) if i in swap else (i, t) for i, t in r["_launched"]]


def _set_progress(r: dict[str, Any]) -> None:
    total = r["_total"]
    pct = 100 if total == 0 else min(100, r["_done"] * 100 // total)
    r["PercentageComplete"] = pct
    r["InstancesToUpdate"] = total - r["_done"]
    r["ProgressDetails"] = {"LivePoolProgress": {"PercentageComplete": pct, "InstancesToUpdate": total - r["_done"]}}


def _finish(r: dict[str, Any], status: str, reason: str | None = None) -> None:
    r["Status"] = status
    r["EndTime"] = utcnow()
    if reason:
        r["StatusReason"] = reason


def advance_refresh(backend: AutoScalingBackend, r: dict[str, Any], now: float) -> None:
    """Move a rolling refresh on as far as it can go now, at most one batch.

    A batch replaces up to max - min instances (the bounds of refresh_bounds):
    as many as the maximum allows are launched before their old instances
    leave (the old ones leave once every new one of the batch is in service),
    the rest leave first, so the instances in service never fall below the
    minimum. Old instances drain, then are terminated."""
    _terminate_drained(backend, r, now)
    if r["Status"] not in ("Pending", "InProgress"):
        return
    group = backend.autoscaling_groups.get(r["AutoScalingGroupName"])
    if group is None:
        _finish(r, "Cancelled", "The Auto Scaling group was deleted.")
        return
    members = {s.instance.id for s in group.instance_states}
    if r["_launched"]:
        _follow_replacements(group, r, members, now)
        # without the data plane nothing fails a health check: a lost one is done
        if not all((i in members or _plane is None) and _warmed_up(group, r, i, t, now) for i, t in r["_launched"]):
            return
        r["_done"] += len(r["_launched"])
        r["_new"].extend(i for i, _ in r["_launched"])
        r["_launched"] = []
        _retire(group, r, _pick_old(group, r["_todo"], r["_hold"]), now)
        r["_hold"] = 0
        members = {s.instance.id for s in group.instance_states}
    # old instances the group lost another way (scale-in, health check) are done
    lost = [i for i in r["_todo"] if i not in members]
    if lost:
        r["_todo"] = [i for i in r["_todo"] if i in members]
        r["_done"] += len(lost)
    r["Status"] = "InProgress"
    _set_progress(r)
    if not r["_todo"]:
        if not r["_draining"]:
            _finish(r, "Successful")
        return
    desired = int(group.desired_capacity or 0)
    low, high = refresh_bounds(desired, r["Preferences"])
    batch = min(len(r["_todo"]), max(1, high - low))
    launch_first = min(batch, max(0, high - desired))
    _retire(group, r, _pick_old(group, r["_todo"], batch - launch_first), now)
    tags = group.get_propagated_tags()
    tags[ASG_NAME_TAG] = group.name
    version = _group_lt_version(group)
    if version is not None:
        tags.update(version.instance_tags)
    for _ in range(batch):
        r["_launched"].append((_launch_one(group, tags).instance.id, now))
    r["_hold"] = launch_first
    backend.update_attached_elbs(group.name)
    backend.update_attached_target_groups(group.name)


def _advance_all(backend: AutoScalingBackend, now: float) -> bool:
    """Moves every unfinished refresh of one backend on; True if any was."""
    store = getattr(backend, "wtt_instance_refreshes", None)
    moved = False
    for refreshes in list((store or {}).values()):
        for r in refreshes:
            if r["Status"] in _ACTIVE_REFRESH or r["_draining"]:
                advance_refresh(backend, r, now)
                moved = True
    return moved


def start_refresh_driver(plane: Any) -> Any:
    """With the data plane on, refreshes move on by themselves, every
    REFRESH_TICK seconds, under the lock every API request holds. Returns the
    event that stops the driver."""
    import threading
    import time

    from moto.autoscaling.models import autoscaling_backends

    global _plane
    _plane = plane
    stop = threading.Event()

    def drive() -> None:
        while not stop.wait(REFRESH_TICK):
            try:
                moved = False
                with plane.lock:
                    now = time.monotonic()
                    for regions in list(autoscaling_backends.values()):
                        for backend in list(regions.values()):
                            moved = _advance_all(backend, now) or moved
                if moved:
                    plane.nudge()
            except Exception as e:  # keep driving; say what went wrong
                print(f"wtt emulator: instance refresh: {e!r}", file=sys.stderr, flush=True)

    threading.Thread(target=drive, name="instance-refresh", daemon=True).start()
    return stop


def add_start_instance_refresh() -> None:
    """StartInstanceRefresh (Rolling): applies DesiredConfiguration (if any) to
    the group, records the refresh InProgress and starts its first batch; see
    advance_refresh for the rest. A second start while one runs is AWS's
    InstanceRefreshInProgress error."""

    def start_instance_refresh(self: AutoScalingResponse) -> ActionResult:
        import time

        name = self._get_param("AutoScalingGroupName")
        prefs = self._get_param("Preferences") or {}
        desired = self._get_param("DesiredConfiguration") or {}
        strategy = self._get_param("Strategy") or "Rolling"
        group = _get_group(self.autoscaling_backend, name)
        store = _refreshes(self.autoscaling_backend).setdefault(group.name, [])
        if any(r["Status"] in _ACTIVE_REFRESH for r in store):
            raise AutoscalingClientError(
                "InstanceRefreshInProgress",
                "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.",
            )
        _apply_desired_configuration(group, desired)
        todo = _stale_instances(group, prefs)
        refresh: dict[str, Any] = {
            "InstanceRefreshId": str(uuid.uuid4()),
            "AutoScalingGroupName": group.name,
            "Status": "Pending",
            "StartTime": utcnow(),
            "Preferences": prefs,
            "Strategy": strategy,
            "_todo": todo,
            "_total": len(todo),
            "_done": 0,
            "_launched": [],
            "_new": [],
            "_hold": 0,
            "_draining": [],
        }
        if desired:
            refresh["DesiredConfiguration"] = desired
        store.insert(0, refresh)
        advance_refresh(self.autoscaling_backend, refresh, time.monotonic())
        return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})

    AutoScalingResponse.start_instance_refresh = start_instance_refresh  # type: ignore[attr-defined]


def add_describe_instance_refreshes() -> None:
    """DescribeInstanceRefreshes: the group's refreshes, newest first. Without
    the data plane each call first moves the group's refresh on by a batch."""

    def describe_instance_refreshes(self: AutoScalingResponse) -> ActionResult:
        import time

        name = self._get_param("AutoScalingGroupName")
        ids = self._get_param("InstanceRefreshIds", []) or []
        token = self._get_param("NextToken")
        max_records = int(self._get_param("MaxRecords") or 50)
        refreshes = _refreshes(self.autoscaling_backend).get(name or "", [])
        if _plane is None:
            for r in refreshes:
                advance_refresh(self.autoscaling_backend, r, time.monotonic())
        items = [
            {k: v for k, v in r.items() if not k.startswith("_")}
            for r in refreshes
            if not ids or r["InstanceRefreshId"] in ids
        ]
        start = int(token) if token and str(token).isdigit() else 0
        page = items[start : start + max_records]
        next_token = str(start + max_records) if start + max_records < len(items) else None
        return ActionResult({"InstanceRefreshes": page, "NextToken": next_token})

    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes  # type: ignore[attr-defined]


def add_cancel_instance_refresh() -> None:
    """CancelInstanceRefresh: stops the running refresh where it is (instances
    already replaced stay; old instances already leaving still drain and
    go). A group left above its desired capacity by a launch-first batch is
    brought back to it, old instances first. No refresh running: AWS's
    ActiveInstanceRefreshNotFound error."""

    def cancel_instance_refresh(self: AutoScalingResponse) -> ActionResult:
        name = self._get_param("AutoScalingGroupName")
        group = _get_group(self.autoscaling_backend, name)
        active = [r for r in _refreshes(self.autoscaling_backend).get(group.name, []) if r["Status"] in _ACTIVE_REFRESH]
        if not active:
            raise AutoscalingClientError(
                "ActiveInstanceRefreshNotFound",
                f"No in progress or pending Instance Refresh found for Auto Scaling group {name}",
            )
        r = active[0]
        r["_launched"], r["_hold"] = [], 0
        _finish(r, "Cancelled", "The instance refresh was cancelled.")
        group.set_desired_capacity(group.desired_capacity)
        return ActionResult({"InstanceRefreshId": r["InstanceRefreshId"]})

    AutoScalingResponse.cancel_instance_refresh = cancel_instance_refresh  # type: ignore[attr-defined]


# ===========================================================================
# IAM
# ===========================================================================


def add_remove_role_not_in_profile() -> None:
    """RemoveRoleFromInstanceProfile for a role the profile does not hold:
    AWS answers NoSuchEntity (HTTP 404); moto raises a Python ValueError,
    which the server turns into an HTTP 500 that clients retry in vain. A run
    of `wtt down` killed between removing the role and deleting the profile
    repeats the removal when it is run again."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import IAMBackend

    def remove_role_from_instance_profile(self: IAMBackend, profile_name: str, role_name: str) -> None:
        profile = self.get_instance_profile(profile_name)
        role = self.get_role(role_name)
        if role not in profile.roles:
            raise NotFoundException(f"Role {role_name} is not in instance profile {profile_name}.")
        profile.roles.remove(role)

    IAMBackend.remove_role_from_instance_profile = remove_role_from_instance_profile  # type: ignore[method-assign]


# ===========================================================================
# Elastic IPs (EC2)
# ===========================================================================


def add_eip_reassociation() -> None:
    """AssociateAddress with AllowReassociation moves the address: the
    instance that had it loses it (and gets a new public address if its
    subnet auto-assigns them), as on AWS. moto left the address on both
    instances' network interfaces, so both described it as their public IP."""
    from moto.ec2.models.elastic_ip_addresses import ElasticAddressBackend

    orig = ElasticAddressBackend.associate_address

    def associate_address(self: Any, instance: Any = None, eni: Any = None, address: str | None = None,
                          allocation_id: str | None = None, reassociate: bool = False) -> Any:
        eips = []
        if address:
            eips = self.address_by_ip([address])
        elif allocation_id:
            eips = self.address_by_allocation([allocation_id])
        old = eips[0].eni if eips else None
        eip = orig(self, instance=instance, eni=eni, address=address,
                   allocation_id=allocation_id, reassociate=reassociate)
        if old is not None and old is not eip.eni and old.public_ip == eip.public_ip:
            old.public_ip = None
            if old.instance is not None and old.instance._state.name == "running":
                old.check_auto_public_ip()
        return eip

    ElasticAddressBackend.associate_address = associate_address  # type: ignore[method-assign]


def add_route_blackhole() -> None:
    """A route to an internet gateway that is no longer attached to the
    route table's VPC (detached, or deleted after detaching) is described
    with State blackhole, as on AWS. moto described every route as active,
    and wtt takes an active default route as proof that its gateway is
    attached (pkg/observe, provenByRoutes)."""
    from moto.ec2.models.internet_gateways import InternetGateway
    from moto.ec2.models.route_tables import Route

    def state(self: Any) -> str:
        gw = self.gateway
        if isinstance(gw, InternetGateway) and (gw.vpc is None or gw.vpc.id != self.route_table.vpc_id):
            return "blackhole"
        return "active"

    Route.state = property(state)  # type: ignore[method-assign,assignment]


# ===========================================================================
# Client tokens (EC2): a repeat answers the first call's result
# ===========================================================================


def add_vpc_endpoint_client_token() -> None:
    """CreateVpcEndpoint with a ClientToken that an earlier call in the same
    account and region already used answers that call's endpoint, as it is
    now (deleted too), and creates nothing, as AWS's idempotency does; the
    answer carries the token back in ClientToken. moto kept the token on the
    endpoint but never looked it up, so every repeat made a new endpoint,
    and a tool that sent one fixed token per VPC (wtt did, until it added a
    per-run nonce) could not see that AWS would hand a hand-deleted endpoint
    back instead of making a new one. A repeat whose other parameters
    differ is not refused with IdempotentParameterMismatch, and tokens do
    not expire (AWS keeps them for at least 24 hours)."""
    from moto.ec2.models.vpcs import VPCBackend

    orig_create = VPCBackend.create_vpc_endpoint
    orig_response = EC2Response.create_vpc_endpoint

    def create_vpc_endpoint(self: Any, *args: Any, client_token: str | None = None, **kwargs: Any) -> Any:
        if client_token:
            for endpoint in self.vpc_end_points.values():
                if endpoint.client_token == client_token:
                    return endpoint
        return orig_create(self, *args, client_token=client_token, **kwargs)

    def create_vpc_endpoint_response(self: EC2Response) -> ActionResult:
        answer = orig_response(self)
        token = self._get_param("ClientToken")
        if token:
            answer.result["ClientToken"] = token  # type: ignore[index]
        return answer

    VPCBackend.create_vpc_endpoint = create_vpc_endpoint  # type: ignore[method-assign]
    EC2Response.create_vpc_endpoint = create_vpc_endpoint_response  # type: ignore[method-assign]


def add_run_instances_client_token() -> None:
    """RunInstances with a ClientToken that an earlier call in the same
    account and region used answers that call's reservation, its instances
    as they are now (terminated too), and launches nothing, as AWS does.
    moto kept the token on each instance but launched again on every call.
    (SDKs fill a new token for each call they do not get one for; moto's
    own "ABCDE" for a request without one is never looked up.) Not
    emulated, as for CreateVpcEndpoint: IdempotentParameterMismatch and
    tokens expiring."""
    orig = EC2Response.run_instances

    def run_instances(self: EC2Response) -> ActionResult:
        token = self._get_param("ClientToken")
        if token and not self._get_bool_param("DryRun", False):
            for reservation in self.ec2_backend.reservations.values():
                if any(i.client_token == token for i in reservation.instances):
                    return ActionResult(reservation)
        return orig(self)

    EC2Response.run_instances = run_instances  # type: ignore[method-assign]


# ===========================================================================
# Server
# ===========================================================================

_installed = False


def install_additions() -> int:
    """Apply every addition in ADDITIONS once, then the speedups (the same
    answers for less CPU: emulator/speedups.py, off with
    WTT_EMULATOR_SPEEDUPS=0); returns how many additions there are."""
    global _installed
    if not _installed:
        for _, function_name in ADDITIONS:
            globals()[function_name]()
        # After the additions: some speedups memoise what they define.
        speedups.install()
        _installed = True
    return len(ADDITIONS)


def reset_without_rebuilding() -> None:
    """POST /moto-api/reset in a fraction of the CPU. moto's reset calls
    reset() on every backend, which empties it and runs its __init__ again
    (for EC2: the default VPC and subnets, the AMIs, the instance types:
    about 2 s of CPU), and then drops every backend it just rebuilt; the next
    request builds them once more. Emptying without the rebuild leaves moto in
    the same state after the reset, since nothing holds on to a dropped
    backend. Overrides that release resources first (S3's temporary files,
    Batch's job threads) still run: they end with this base reset."""
    from moto.core.base_backend import BaseBackend

    def reset(self: BaseBackend) -> None:
        self.__dict__ = {}

    BaseBackend.reset = reset  # type: ignore[method-assign]


def _stop(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prepare()
    return serve(args)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The launcher's options, checked; a bad one exits 2 with the fix."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to bind (0: any free port)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    dataplane_args(parser)
    args = parser.parse_args(argv)
    if args.host in ("0.0.0.0", "::", ""):
        parser.error("refusing to listen on all interfaces; use a loopback address")
    if args.boot_delay < 0:
        parser.error("--boot-delay must not be negative")
    if args.dataplane_time_scale <= 0:
        parser.error("--dataplane-time-scale must be positive, e.g. 0.1 for checks ten times as often")
    if args.dataplane and not os.path.isfile(args.server_binary):
        parser.error(
            f"the data plane runs the time server, and there is none at {args.server_binary}: "
            "build it with `make build`, point --server-binary (or WTT_SERVER_BINARY) at it, "
            "or turn the data plane off with --no-dataplane (or WTT_DATAPLANE=0)"
        )
    return args


def prepare() -> Any:
    """What every emulator needs whatever its options: the additions, the
    cheap reset and moto's server application (no backend yet, no thread, no
    socket). emulator/forkserver.py calls it once and forks an emulator per
    test from the result; main() calls it for the one emulator it runs."""
    # moto builds a boto3 client to route the first request of each REST
    # service (Route 53, S3); without credentials in the environment,
    # botocore then asks the EC2 instance metadata service for some, on
    # 169.254.169.254: a network round trip, or a timeout, out of a process
    # that only serves loopback.
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    install_additions()
    reset_without_rebuilding()

    import keepalive  # noqa: F401  (serve() needs it and werkzeug.serving; imported here so a fork inherits them)

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


def serve(args: argparse.Namespace, app: Any = None,
          on_listening: Callable[[int], None] | None = None) -> int:
    """Serve the AWS APIs (and the data plane if args.dataplane) on
    args.host:args.port until SIGTERM or SIGINT. app is what prepare()
    returned (built now if None); on_listening gets the bound port once the
    server, and the data plane's DNS on the same port, are listening."""
    import logging

    from keepalive import KeepAliveServer

    if app is None:
        app = prepare()
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    plane = None
    if args.dataplane:
        import threading

        import dataplane

        plane = dataplane.DataPlane(
            dataplane.Config(
                binary=args.server_binary,
                emulator_port=0,
                boot_delay=args.boot_delay,
                time_scale=args.dataplane_time_scale,
            ),
            threading.RLock(),
        )
        dataplane.install(plane)
        app = plane.wsgi(app)
    # werkzeug's threaded server, but keeping HTTP/1.1 connections alive as
    # AWS does instead of closing after every answer (emulator/keepalive.py).
    server = KeepAliveServer(args.host, args.port, app)
    port = server.server_port
    os.environ.setdefault("MOTO_PORT", str(port))
    if plane is not None:
        plane.config.emulator_port = port
        try:
            plane.start()
        except OSError as e:
            server.server_close()
            print(f"wtt emulator: data plane: cannot serve DNS on udp 127.0.0.1:{port}: {e}", file=sys.stderr)
            return 1
        stop_refreshes = start_refresh_driver(plane)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(
        f"wtt emulator (moto {moto.__version__} + {len(ADDITIONS)} additions) "
        f"listening on http://{args.host}:{port}",
        file=sys.stderr,
        flush=True,
    )
    if plane is not None:
        print(
            f"wtt emulator: data plane on: time server {args.server_binary}, boot delay "
            f"{args.boot_delay:g} s, time scale {args.dataplane_time_scale:g}, "
            f"DNS on udp 127.0.0.1:{port}, state at /wtt-dataplane/state",
            file=sys.stderr,
            flush=True,
        )
    else:
        print("wtt emulator: data plane off (control plane only)", file=sys.stderr, flush=True)
    if on_listening is not None:
        on_listening(port)
    try:
        server.serve_forever()
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.server_close()
        if plane is not None:
            stop_refreshes.set()
            plane.stop()
    return 0


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value not in ("0", "false", "no", "off")


def dataplane_args(parser: argparse.ArgumentParser) -> None:
    """The data plane's options; each has an environment variable, so the
    Makefile, scripts and the Go test harness can set it without flags."""
    from dataplane import default_server_binary

    group = parser.add_argument_group(
        "data plane", "instances, load balancers and Route 53 actually serving on loopback "
        "(docs/emulator.md, \"The data plane\")")
    group.add_argument(
        "--dataplane", action=argparse.BooleanOptionalAction,
        default=_env_flag("WTT_DATAPLANE", True),
        help="run the data plane (default: on; WTT_DATAPLANE=0 turns it off)")
    group.add_argument(
        "--server-binary", default=os.environ.get("WTT_SERVER_BINARY") or default_server_binary(),
        help="time server every instance runs (default: WTT_SERVER_BINARY, else "
        "../bin/whatsthetime-linux-<arch> from the emulator directory, as `make build` writes it)")
    group.add_argument(
        "--boot-delay", type=float, default=float(os.environ.get("WTT_DATAPLANE_BOOT_DELAY") or 1.0),
        help="seconds between an instance turning running in the API and its time server starting "
        "(default 1; WTT_DATAPLANE_BOOT_DELAY)")
    group.add_argument(
        "--dataplane-time-scale", type=float,
        default=float(os.environ.get("WTT_DATAPLANE_TIME_SCALE") or 1.0),
        help="multiplies health-check intervals and timeouts, deregistration delays and Auto "
        "Scaling health-check grace periods (default 1: as configured; WTT_DATAPLANE_TIME_SCALE)")


if __name__ == "__main__":
    sys.exit(main())
