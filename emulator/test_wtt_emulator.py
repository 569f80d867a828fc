"""Tests for emulator/wtt_emulator.py.

Run with:  python3 -m unittest emulator/test_wtt_emulator.py   (from the repo root)
      or:  python3 -m unittest discover -s emulator -p 'test_*.py'

The launcher runs as a subprocess on a free loopback port; every test talks to
it through boto3, whose parsers use the same service models as aws-sdk-go-v2,
so a successful parse proves the wire shape. The raw XML namespaces of the
added operations are checked too.
"""

from __future__ import annotations

import base64
from collections import Counter
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

import boto3
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCHER = os.path.join(HERE, "wtt_emulator.py")
REGION = "us-east-1"
AMI = "ami-12c6146b"  # one of moto's built-in AMIs
# moto serializes the namespace from botocore's model, which (unlike AWS) has no
# trailing slash for EC2; SDKs ignore it, so accept both.
EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15"
ASG_NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"


class Emulator:
    """The launcher as a subprocess on a free port (--port 0, read from its banner)."""

    def __init__(self, *extra: str) -> None:
        # The control-plane tests run without the data plane (test_dataplane.py
        # covers it); extra arguments such as "--dataplane" turn it on.
        self.proc = subprocess.Popen(
            [sys.executable, LAUNCHER, "--port", "0", "--quiet", "--no-dataplane", *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.banner = self.proc.stderr.readline().strip()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)$", self.banner)
        if not match:
            rest = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.proc.kill()
            raise RuntimeError(f"launcher did not start: {self.banner!r} {rest}")
        self.url = match.group(1)
        self.log: list[str] = []
        self._drain = threading.Thread(target=self._read_log, daemon=True)
        self._drain.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _read_log(self) -> None:
        for line in self.proc.stderr:
            self.log.append(line)

    def reset(self) -> None:
        req = urllib.request.Request(self.url + "/moto-api/reset", method="POST", data=b"")
        # moto rebuilds every backend it had (default VPCs, AMIs...): seconds on a busy machine
        urllib.request.urlopen(req, timeout=60).read()

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def stop(self) -> int:
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=30)  # interpreter teardown is slow on a busy machine
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
                    return -9
            return self.proc.returncode
        finally:
            self._drain.join(timeout=5)
            self.proc.stderr.close()


def capture_body(client, event: str) -> list[bytes]:
    """Collect the raw HTTP bodies of one operation (event like 'ec2.DescribeReservedInstances')."""
    bodies: list[bytes] = []

    def hook(http_response, **_):
        bodies.append(http_response.content)

    client.meta.events.register(f"after-call.{event}", hook)
    return bodies


_EMULATOR: Emulator | None = None


def setUpModule() -> None:
    global _EMULATOR
    _EMULATOR = Emulator()


def tearDownModule() -> None:
    if _EMULATOR is not None:
        rc = _EMULATOR.stop()
        assert rc == 0, f"launcher exited {rc} on SIGTERM; log:\n{''.join(_EMULATOR.log)}"


class EmulatorTestCase(unittest.TestCase):
    """Shares one launcher per test run; moto is reset before every test."""

    @property
    def emu(self) -> Emulator:
        assert _EMULATOR is not None
        return _EMULATOR

    def setUp(self) -> None:
        self.emu.reset()
        self.ec2 = self.emu.client("ec2")
        self.asg = self.emu.client("autoscaling")
        self.elbv2 = self.emu.client("elbv2")

    def assertClientError(self, code: str, fn, *args, **kwargs) -> ClientError:
        with self.assertRaises(ClientError) as ctx:
            fn(*args, **kwargs)
        self.assertEqual(ctx.exception.response["Error"]["Code"], code, ctx.exception)
        return ctx.exception

    # ------------------------------------------------------------ helpers
    def make_network(self, map_public_ip: bool = False) -> dict:
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = []
        for i, zone in enumerate(["us-east-1a", "us-east-1b", "us-east-1c"]):
            sid = self.ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone
            )["Subnet"]["SubnetId"]
            if map_public_ip:
                self.ec2.modify_subnet_attribute(SubnetId=sid, MapPublicIpOnLaunch={"Value": True})
            subnets.append(sid)
        sg = self.ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)[
            "GroupId"
        ]
        tg = self.elbv2.create_target_group(
            Name="app", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance"
        )["TargetGroups"][0]["TargetGroupArn"]
        return {"vpc": vpc, "subnets": subnets, "sg": sg, "tg": tg}

    def make_template(self, net: dict, style: str = "nic", **extra) -> str:
        data = {
            "ImageId": AMI,
            "InstanceType": "t3.micro",
            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
            "UserData": base64.b64encode(b"#!/bin/sh\necho v1\n").decode(),
        }
        if style == "nic":
            data["NetworkInterfaces"] = [
                {"DeviceIndex": 0, "AssociatePublicIpAddress": False, "Groups": [net["sg"]]}
            ]
        else:
            data["SecurityGroupIds"] = [net["sg"]]
        data.update(extra)
        return self.ec2.create_launch_template(LaunchTemplateName="app-lt", LaunchTemplateData=data)[
            "LaunchTemplate"
        ]["LaunchTemplateId"]

    def make_group(self, net: dict, lt_id: str, desired: int, version: str = "$Latest") -> None:
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName="app",
            MinSize=0,
            MaxSize=10,
            DesiredCapacity=desired,
            LaunchTemplate={"LaunchTemplateId": lt_id, "Version": version},
            VPCZoneIdentifier=",".join(net["subnets"]),
            TargetGroupARNs=[net["tg"]],
        )

    def group(self) -> dict:
        return self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=["app"])[
            "AutoScalingGroups"
        ][0]

    def group_instance_ids(self) -> list[str]:
        return sorted(i["InstanceId"] for i in self.group()["Instances"])

    def instances(self, ids: list[str]) -> list[dict]:
        out = []
        for r in self.ec2.describe_instances(InstanceIds=ids)["Reservations"]:
            out.extend(r["Instances"])
        return out

    def targets(self, tg: str) -> list[str]:
        health = self.elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
        return sorted(h["Target"]["Id"] for h in health)


class TestLauncher(EmulatorTestCase):
    def test_banner_names_moto_version_and_additions(self) -> None:
        import moto

        sys.path.insert(0, HERE)
        try:
            import wtt_emulator
        finally:
            sys.path.remove(HERE)
        self.assertRegex(
            self.emu.banner,
            rf"^wtt emulator \(moto {re.escape(moto.__version__)} \+ "
            rf"{len(wtt_emulator.ADDITIONS)} additions\) listening on http://127\.0\.0\.1:\d+$",
        )

    def test_refuses_all_interfaces(self) -> None:
        proc = subprocess.run(
            [sys.executable, LAUNCHER, "--host", "0.0.0.0", "--port", "0"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("refusing", proc.stderr)

    def test_reset_clears_additions_state(self) -> None:
        off = self.ec2.describe_reserved_instances_offerings()["ReservedInstancesOfferings"][0]
        self.ec2.purchase_reserved_instances_offering(
            ReservedInstancesOfferingId=off["ReservedInstancesOfferingId"], InstanceCount=1
        )
        self.assertEqual(len(self.ec2.describe_reserved_instances()["ReservedInstances"]), 1)
        self.emu.reset()
        self.assertEqual(self.ec2.describe_reserved_instances()["ReservedInstances"], [])


class TestReservedInstances(EmulatorTestCase):
    def offering(self, **filters) -> dict:
        flt = [{"Name": k.replace("_", "-"), "Values": [v]} for k, v in filters.items()]
        return self.ec2.describe_reserved_instances_offerings(Filters=flt)[
            "ReservedInstancesOfferings"
        ][0]

    def test_offerings_parameters_filters_scope_and_pages(self) -> None:
        def offerings(**kw):
            return self.ec2.describe_reserved_instances_offerings(**kw)["ReservedInstancesOfferings"]

        micro = offerings(InstanceType="t3.micro", ProductDescription="Linux/UNIX",
                          OfferingClass="standard", OfferingType="No Upfront", InstanceTenancy="default")
        self.assertTrue(micro)
        for o in micro:
            self.assertEqual((o["InstanceType"], o["OfferingType"]), ("t3.micro", "No Upfront"))
            self.assertEqual(o["Scope"], "Availability Zone" if o.get("AvailabilityZone") else "Region")
            self.assertEqual(o["FixedPrice"], 0.0)
        regional = offerings(InstanceType="t3.small", Filters=[{"Name": "scope", "Values": ["Region"]}])
        self.assertEqual(len(regional), 3)  # one per payment option
        self.assertTrue(all("AvailabilityZone" not in o for o in regional))
        zonal = offerings(InstanceType="m5.large", AvailabilityZone="us-east-1c")
        self.assertEqual({o["AvailabilityZone"] for o in zonal}, {"us-east-1c"})
        self.assertEqual(offerings(InstanceType="t3.small", MinDuration=94608000), [])  # 3 years
        self.assertEqual(len(offerings(Filters=[{"Name": "duration", "Values": ["31536000"]}],
                                       InstanceType="t2.micro", AvailabilityZone="us-east-1a")), 3)
        one = offerings(ReservedInstancesOfferingIds=[micro[0]["ReservedInstancesOfferingId"]])
        self.assertEqual(one, [micro[0]])
        self.assertClientError("InvalidParameterValue", offerings,
                               Filters=[{"Name": "bogus", "Values": ["x"]}])
        # Pages of at most 100 (AWS's default), continued by NextToken.
        first = self.ec2.describe_reserved_instances_offerings()
        self.assertEqual(len(first["ReservedInstancesOfferings"]), 100)
        paged = self.ec2.get_paginator("describe_reserved_instances_offerings")
        total = sum(len(p["ReservedInstancesOfferings"]) for p in paged.paginate())
        self.assertGreater(total, 100)
        ids = [o["ReservedInstancesOfferingId"] for p in paged.paginate(PaginationConfig={"PageSize": 40})
               for o in p["ReservedInstancesOfferings"]]
        self.assertEqual(len(ids), total)
        self.assertEqual(len(set(ids)), total)

    def test_purchase_zonal_offering_and_describe_shape(self) -> None:
        off = self.offering(instance_type="t3.small", availability_zone="us-east-1b",
                            offering_type="Partial Upfront")
        bodies = capture_body(self.ec2, "ec2.PurchaseReservedInstancesOffering")
        ri_id = self.ec2.purchase_reserved_instances_offering(
            ReservedInstancesOfferingId=off["ReservedInstancesOfferingId"], InstanceCount=2
        )["ReservedInstancesId"]
        self.assertRegex(ri_id, r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        self.assertIn(EC2_NS.encode(), bodies[0])
        self.assertIn(b"<reservedInstancesId>", bodies[0])

        bodies = capture_body(self.ec2, "ec2.DescribeReservedInstances")
        ris = self.ec2.describe_reserved_instances()["ReservedInstances"]
        self.assertEqual(len(ris), 1)
        ri = ris[0]
        self.assertIn(EC2_NS.encode(), bodies[0])
        self.assertIn(b"<reservedInstancesSet>", bodies[0])
        self.assertEqual(ri["ReservedInstancesId"], ri_id)
        self.assertEqual(ri["InstanceType"], "t3.small")
        self.assertEqual(ri["AvailabilityZone"], "us-east-1b")
        self.assertEqual(ri["Scope"], "Availability Zone")
        self.assertEqual(ri["State"], "active")
        self.assertEqual(ri["InstanceCount"], 2)
        self.assertEqual(ri["Duration"], off["Duration"])
        self.assertEqual(ri["FixedPrice"], off["FixedPrice"])
        self.assertEqual(ri["UsagePrice"], off["UsagePrice"])
        self.assertEqual(ri["OfferingType"], "Partial Upfront")
        self.assertEqual(ri["OfferingClass"], off["OfferingClass"])
        self.assertEqual(ri["ProductDescription"], off["ProductDescription"])
        self.assertEqual(ri["InstanceTenancy"], "default")
        self.assertEqual(ri["CurrencyCode"], "USD")
        self.assertEqual(ri["RecurringCharges"], [])
        self.assertEqual(ri["Tags"], [])
        # boto3 parsed the timestamps into datetimes; End = Start + Duration.
        self.assertEqual((ri["End"] - ri["Start"]).total_seconds(), off["Duration"])

    def test_purchase_regional_offering_has_region_scope_and_no_zone(self) -> None:
        regional = [
            o
            for o in self.ec2.describe_reserved_instances_offerings(
                Filters=[{"Name": "instance-type", "Values": ["t2.micro"]}]
            )["ReservedInstancesOfferings"]
            if not o.get("AvailabilityZone")
        ]
        self.assertTrue(regional)
        self.ec2.purchase_reserved_instances_offering(
            ReservedInstancesOfferingId=regional[0]["ReservedInstancesOfferingId"], InstanceCount=1
        )
        ri = self.ec2.describe_reserved_instances()["ReservedInstances"][0]
        self.assertEqual(ri["Scope"], "Region")
        self.assertNotIn("AvailabilityZone", ri)

    def test_describe_filters_and_ids(self) -> None:
        a = self.ec2.purchase_reserved_instances_offering(
            ReservedInstancesOfferingId=self.offering(
                instance_type="t3.small", availability_zone="us-east-1a"
            )["ReservedInstancesOfferingId"],
            InstanceCount=1,
        )["ReservedInstancesId"]
        b = self.ec2.purchase_reserved_instances_offering(
            ReservedInstancesOfferingId=self.offering(
                instance_type="m5.large", availability_zone="us-east-1a"
            )["ReservedInstancesOfferingId"],
            InstanceCount=3,
        )["ReservedInstancesId"]

        def ids(**kw):
            return sorted(r["ReservedInstancesId"] for r in self.ec2.describe_reserved_instances(**kw)["ReservedInstances"])

        self.assertEqual(ids(), sorted([a, b]))
        self.assertEqual(ids(Filters=[{"Name": "instance-type", "Values": ["m5.large"]}]), [b])
        self.assertEqual(ids(Filters=[{"Name": "state", "Values": ["active"]}]), sorted([a, b]))
        self.assertEqual(ids(Filters=[{"Name": "state", "Values": ["retired"]}]), [])
        self.assertEqual(ids(Filters=[{"Name": "scope", "Values": ["Region"]}]), [])
        self.assertEqual(ids(Filters=[{"Name": "scope", "Values": ["Availability Zone"]}]), sorted([a, b]))
        self.assertEqual(ids(Filters=[{"Name": "reserved-instances-id", "Values": [a]}]), [a])
        self.assertEqual(ids(ReservedInstancesIds=[b]), [b])
        self.assertEqual(ids(OfferingClass="convertible"), [])
        self.assertClientError(
            "InvalidReservedInstancesId",
            self.ec2.describe_reserved_instances,
            ReservedInstancesIds=["00000000-0000-4000-8000-000000000000"],
        )
        self.assertClientError(
            "InvalidParameterValue",
            self.ec2.describe_reserved_instances,
            Filters=[{"Name": "no-such-filter", "Values": ["x"]}],
        )

    def test_expire_control_retires_every_active_reservation(self) -> None:
        ri = self.ec2.purchase_reserved_instances_offering(
            ReservedInstancesOfferingId=self.offering(instance_type="m5.large")["ReservedInstancesOfferingId"],
            InstanceCount=2,
        )["ReservedInstancesId"]
        req = urllib.request.Request(self.emu.url + "/moto-api/wtt/reserved-instances/expire", method="POST", data=b"")
        self.assertEqual(json.loads(urllib.request.urlopen(req, timeout=10).read()), {"expired": 1})
        (r,) = self.ec2.describe_reserved_instances(ReservedInstancesIds=[ri])["ReservedInstances"]
        self.assertEqual(r["State"], "retired")
        active = self.ec2.describe_reserved_instances(Filters=[{"Name": "state", "Values": ["active"]}])
        self.assertEqual(active["ReservedInstances"], [])

    def test_purchase_errors(self) -> None:
        self.assertClientError(
            "InvalidReservedInstancesOfferingId",
            self.ec2.purchase_reserved_instances_offering,
            ReservedInstancesOfferingId="nope",
            InstanceCount=1,
        )
        off = self.offering(offering_type="All Upfront", instance_type="m5.large")
        self.assertGreater(off["FixedPrice"], 0)
        self.assertClientError(
            "ReservedInstancesLimitPriceExceeded",
            self.ec2.purchase_reserved_instances_offering,
            ReservedInstancesOfferingId=off["ReservedInstancesOfferingId"],
            InstanceCount=2,
            LimitPrice={"Amount": off["FixedPrice"], "CurrencyCode": "USD"},
        )
        self.assertClientError(
            "DryRunOperation",
            self.ec2.purchase_reserved_instances_offering,
            ReservedInstancesOfferingId=off["ReservedInstancesOfferingId"],
            InstanceCount=1,
            DryRun=True,
        )
        self.assertEqual(self.ec2.describe_reserved_instances()["ReservedInstances"], [])
        # Within the limit price: accepted.
        self.ec2.purchase_reserved_instances_offering(
            ReservedInstancesOfferingId=off["ReservedInstancesOfferingId"],
            InstanceCount=1,
            LimitPrice={"Amount": off["FixedPrice"], "CurrencyCode": "USD"},
        )

    def test_tags_on_reserved_instances(self) -> None:
        off = self.offering(instance_type="t3.small")
        ri_id = self.ec2.purchase_reserved_instances_offering(
            ReservedInstancesOfferingId=off["ReservedInstancesOfferingId"], InstanceCount=1
        )["ReservedInstancesId"]
        self.ec2.create_tags(Resources=[ri_id], Tags=[{"Key": "wtt:rung", "Value": "7"}])
        ri = self.ec2.describe_reserved_instances()["ReservedInstances"][0]
        self.assertEqual(ri["Tags"], [{"Key": "wtt:rung", "Value": "7"}])
        got = self.ec2.describe_reserved_instances(
            Filters=[{"Name": "tag:wtt:rung", "Values": ["7"]}]
        )["ReservedInstances"]
        self.assertEqual([r["ReservedInstancesId"] for r in got], [ri_id])
        tags = self.ec2.describe_tags(
            Filters=[{"Name": "resource-type", "Values": ["reserved-instances"]}]
        )["Tags"]
        self.assertEqual(
            tags,
            [{"Key": "wtt:rung", "Value": "7", "ResourceId": ri_id, "ResourceType": "reserved-instances"}],
        )
        self.ec2.delete_tags(Resources=[ri_id], Tags=[{"Key": "wtt:rung"}])
        self.assertEqual(self.ec2.describe_reserved_instances()["ReservedInstances"][0]["Tags"], [])
        self.assertClientError(
            "InvalidReservedInstancesId",
            self.ec2.create_tags,
            Resources=["00000000-0000-4000-8000-000000000000"],
            Tags=[{"Key": "k", "Value": "v"}],
        )


class TestLaunchTemplateVersions(EmulatorTestCase):
    def test_source_version_is_merged(self) -> None:
        net = self.make_network()
        lt = self.make_template(net)
        v2 = self.ec2.create_launch_template_version(
            LaunchTemplateId=lt, SourceVersion="1", VersionDescription="bigger",
            LaunchTemplateData={"InstanceType": "t3.small"},
        )["LaunchTemplateVersion"]
        self.assertEqual(v2["VersionNumber"], 2)
        data = v2["LaunchTemplateData"]
        self.assertEqual(data["InstanceType"], "t3.small")
        self.assertEqual(data["ImageId"], AMI)
        self.assertEqual(data["MetadataOptions"]["HttpTokens"], "required")
        self.assertEqual(data["NetworkInterfaces"][0]["Groups"], [net["sg"]])
        self.assertIn("UserData", data)
        # Given fields replace the source's whole field.
        v3 = self.ec2.create_launch_template_version(
            LaunchTemplateId=lt, SourceVersion="2",
            LaunchTemplateData={"MetadataOptions": {"HttpTokens": "optional"}},
        )["LaunchTemplateVersion"]["LaunchTemplateData"]
        self.assertEqual(v3["MetadataOptions"], {"HttpTokens": "optional"})
        self.assertEqual(v3["InstanceType"], "t3.small")
        # Without SourceVersion only the given data is kept (AWS semantics).
        v4 = self.ec2.create_launch_template_version(
            LaunchTemplateId=lt, LaunchTemplateData={"ImageId": AMI}
        )["LaunchTemplateVersion"]["LaunchTemplateData"]
        self.assertEqual(v4, {"ImageId": AMI})
        described = self.ec2.describe_launch_template_versions(LaunchTemplateId=lt, Versions=["2"])[
            "LaunchTemplateVersions"
        ][0]["LaunchTemplateData"]
        self.assertEqual(described["ImageId"], AMI)
        self.assertEqual(described["InstanceType"], "t3.small")

    def test_group_launches_from_new_version_with_user_data(self) -> None:
        net = self.make_network()
        lt = self.make_template(net)
        user_data = base64.b64encode(b"#!/bin/sh\necho v2\n").decode()
        self.ec2.create_launch_template_version(
            LaunchTemplateId=lt, SourceVersion="1",
            LaunchTemplateData={"InstanceType": "t3.small", "UserData": user_data},
        )
        self.make_group(net, lt, desired=1, version="$Latest")
        iid = self.group_instance_ids()[0]
        self.assertEqual(self.instances([iid])[0]["InstanceType"], "t3.small")
        attr = self.ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")
        self.assertEqual(attr["UserData"]["Value"], user_data)


class TestAutoScalingPlacement(EmulatorTestCase):
    def test_balanced_subnets_and_template_settings(self) -> None:
        net = self.make_network(map_public_ip=True)
        lt = self.make_template(net, style="nic")
        self.make_group(net, lt, desired=6)
        ids = self.group_instance_ids()
        self.assertEqual(len(ids), 6)
        insts = self.instances(ids)
        per_subnet: dict[str, int] = {}
        for inst in insts:
            per_subnet[inst["SubnetId"]] = per_subnet.get(inst["SubnetId"], 0) + 1
            self.assertEqual([g["GroupId"] for g in inst["SecurityGroups"]], [net["sg"]])
            self.assertNotIn("PublicIpAddress", inst)  # template says no, subnet says yes
            self.assertEqual(inst["MetadataOptions"]["HttpTokens"], "required")
            self.assertEqual(inst["MetadataOptions"]["HttpPutResponseHopLimit"], 2)
            self.assertEqual(inst["InstanceType"], "t3.micro")
        self.assertEqual(per_subnet, {s: 2 for s in net["subnets"]})
        zones = sorted(i["AvailabilityZone"] for i in self.group()["Instances"])
        self.assertEqual(zones, ["us-east-1a"] * 2 + ["us-east-1b"] * 2 + ["us-east-1c"] * 2)
        self.assertEqual(self.targets(net["tg"]), ids)

    def test_security_group_ids_and_subnet_public_ip_default(self) -> None:
        net = self.make_network(map_public_ip=True)
        lt = self.make_template(net, style="ids")
        self.make_group(net, lt, desired=2)
        for inst in self.instances(self.group_instance_ids()):
            self.assertEqual([g["GroupId"] for g in inst["SecurityGroups"]], [net["sg"]])
            self.assertIn("PublicIpAddress", inst)  # template silent: subnet maps public IPs

    def test_private_subnet_gives_no_public_ip(self) -> None:
        net = self.make_network(map_public_ip=False)
        lt = self.make_template(net, style="ids")
        self.make_group(net, lt, desired=2)
        for inst in self.instances(self.group_instance_ids()):
            self.assertNotIn("PublicIpAddress", inst)

    def test_default_version_is_respected(self) -> None:
        net = self.make_network()
        lt = self.make_template(net)
        self.ec2.create_launch_template_version(
            LaunchTemplateId=lt, SourceVersion="1", LaunchTemplateData={"InstanceType": "t3.small"}
        )
        self.make_group(net, lt, desired=1, version="$Default")
        iid = self.group_instance_ids()[0]
        self.assertEqual(self.instances([iid])[0]["InstanceType"], "t3.micro")
        self.assertEqual(self.group()["Instances"][0]["LaunchTemplate"]["Version"], "1")

    def test_scale_in_deregisters_and_stays_balanced(self) -> None:
        net = self.make_network()
        lt = self.make_template(net)
        self.make_group(net, lt, desired=6)
        before = self.group_instance_ids()
        self.asg.set_desired_capacity(AutoScalingGroupName="app", DesiredCapacity=3)
        after = self.group_instance_ids()
        self.assertEqual(len(after), 3)
        self.assertEqual(self.targets(net["tg"]), after)
        zones = sorted(i["AvailabilityZone"] for i in self.group()["Instances"])
        self.assertEqual(zones, ["us-east-1a", "us-east-1b", "us-east-1c"])
        gone = sorted(set(before) - set(after))
        for inst in self.instances(gone):
            self.assertEqual(inst["State"]["Name"], "terminated")

        self.asg.update_auto_scaling_group(AutoScalingGroupName="app", DesiredCapacity=1)
        after = self.group_instance_ids()
        self.assertEqual(len(after), 1)
        self.assertEqual(self.targets(net["tg"]), after)

        self.asg.update_auto_scaling_group(AutoScalingGroupName="app", MinSize=0, DesiredCapacity=0)
        self.assertEqual(self.targets(net["tg"]), [])

    def test_delete_group_deregisters(self) -> None:
        net = self.make_network()
        self.make_group(net, self.make_template(net), desired=2)
        self.assertEqual(len(self.targets(net["tg"])), 2)
        self.asg.delete_auto_scaling_group(AutoScalingGroupName="app", ForceDelete=True)
        self.assertEqual(self.targets(net["tg"]), [])

    def test_zone_only_group_is_balanced(self) -> None:
        lt = self.ec2.create_launch_template(
            LaunchTemplateName="zones", LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"}
        )["LaunchTemplate"]["LaunchTemplateId"]
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName="app", MinSize=0, MaxSize=4, DesiredCapacity=4,
            LaunchTemplate={"LaunchTemplateId": lt},
            AvailabilityZones=["us-east-1a", "us-east-1b"],
        )
        zones = sorted(i["AvailabilityZone"] for i in self.group()["Instances"])
        self.assertEqual(zones, ["us-east-1a", "us-east-1a", "us-east-1b", "us-east-1b"])

    def test_terminated_instance_is_replaced_and_registered(self) -> None:
        net = self.make_network()
        lt = self.make_template(net)
        self.make_group(net, lt, desired=2)
        victim = self.group_instance_ids()[0]
        self.ec2.terminate_instances(InstanceIds=[victim])
        now = self.group_instance_ids()
        self.assertEqual(len(now), 2)
        self.assertNotIn(victim, now)
        self.assertEqual(self.targets(net["tg"]), now)

    def test_detach_deregisters(self) -> None:
        net = self.make_network()
        lt = self.make_template(net)
        self.make_group(net, lt, desired=2)
        victim = self.group_instance_ids()[0]
        self.asg.detach_instances(
            AutoScalingGroupName="app", InstanceIds=[victim], ShouldDecrementDesiredCapacity=True
        )
        self.assertEqual(self.targets(net["tg"]), self.group_instance_ids())
        self.assertNotIn(victim, self.targets(net["tg"]))


class TestAutoScalingUpdate(EmulatorTestCase):
    def test_update_sets_capacity_rebalance(self) -> None:
        net = self.make_network()
        self.make_group(net, self.make_template(net), desired=1)
        self.assertFalse(self.group()["CapacityRebalance"])
        self.asg.update_auto_scaling_group(AutoScalingGroupName="app", CapacityRebalance=True)
        self.assertTrue(self.group()["CapacityRebalance"])
        self.asg.update_auto_scaling_group(AutoScalingGroupName="app", MinSize=1)
        self.assertTrue(self.group()["CapacityRebalance"])  # absent: unchanged


class TestInstanceRefresh(EmulatorTestCase):
    def new_version(self, lt: str) -> None:
        self.ec2.create_launch_template_version(
            LaunchTemplateId=lt, SourceVersion="1", LaunchTemplateData={"InstanceType": "t3.small"}
        )

    def poll(self, refresh_id: str) -> dict:
        """One DescribeInstanceRefreshes call: without the data plane, each
        moves the refresh on by one batch."""
        return self.asg.describe_instance_refreshes(
            AutoScalingGroupName="app", InstanceRefreshIds=[refresh_id]
        )["InstanceRefreshes"][0]

    def roll(self, refresh_id: str, old: list[str]) -> list[tuple[str, int, list[str], list[str]]]:
        """Polls the refresh to its end; returns, after the start and each
        poll, (status, percentage, old instances in the group, new ones)."""
        steps = []

        def look(status: str, pct: int) -> None:
            ids = self.group_instance_ids()
            steps.append((status, pct, [i for i in ids if i in old], [i for i in ids if i not in old]))

        look("Started", 0)
        for _ in range(20):
            r = self.poll(refresh_id)
            look(r["Status"], r["PercentageComplete"])
            if r["Status"] != "InProgress":
                break
        return steps

    def test_launch_before_terminate_one_at_a_time(self) -> None:
        # what wtt asks for when the group may grow: min 100%, max 150% of 2
        net = self.make_network()
        lt = self.make_template(net)
        self.make_group(net, lt, desired=2, version="$Latest")
        old = self.group_instance_ids()
        self.new_version(lt)
        rid = self.asg.start_instance_refresh(
            AutoScalingGroupName="app",
            Preferences={"MinHealthyPercentage": 100, "MaxHealthyPercentage": 150},
        )["InstanceRefreshId"]
        steps = self.roll(rid, old)
        self.assertEqual([(st, pct, len(o), len(n)) for st, pct, o, n in steps], [
            ("Started", 0, 2, 1),      # one new launched beside both old
            ("InProgress", 50, 1, 2),  # it is in service: one old leaves, the next new launches
            ("Successful", 100, 0, 2),
        ])
        for _, _, o, n in steps:
            self.assertGreaterEqual(len(o) + len(n), 2)  # never below 100%
            self.assertLessEqual(len(o) + len(n), 3)  # never above 150%
        for inst in self.instances(old):
            self.assertEqual(inst["State"]["Name"], "terminated")
        self.assertEqual(self.targets(net["tg"]), steps[-1][3])

    def test_default_minimum_terminates_one_then_launches(self) -> None:
        # no preferences: MinHealthyPercentage 90 of 4 rounds up to 4, max 100:
        # AWS still replaces one at a time, terminating first
        net = self.make_network()
        lt = self.make_template(net)
        self.make_group(net, lt, desired=4, version="$Latest")
        old = self.group_instance_ids()
        self.new_version(lt)
        rid = self.asg.start_instance_refresh(AutoScalingGroupName="app")["InstanceRefreshId"]
        steps = self.roll(rid, old)
        self.assertEqual([(st, pct, len(o), len(n)) for st, pct, o, n in steps], [
            ("Started", 0, 3, 1),
            ("InProgress", 25, 2, 2),
            ("InProgress", 50, 1, 3),
            ("InProgress", 75, 0, 4),
            ("Successful", 100, 0, 4),
        ])
        # the AZs stay balanced while the batches go (4 over 3 AZs: 2-1-1)
        azs = sorted(i["AvailabilityZone"] for i in self.group()["Instances"])
        self.assertEqual(sorted(Counter(azs).values()), [1, 1, 2])

    def test_minimum_healthy_sets_the_batch(self) -> None:
        # 50% of 4 kept in service: two replaced at a time
        net = self.make_network()
        lt = self.make_template(net)
        self.make_group(net, lt, desired=4, version="$Latest")
        old = self.group_instance_ids()
        self.new_version(lt)
        rid = self.asg.start_instance_refresh(
            AutoScalingGroupName="app", Preferences={"MinHealthyPercentage": 50}
        )["InstanceRefreshId"]
        steps = self.roll(rid, old)
        self.assertEqual([(st, pct, len(o), len(n)) for st, pct, o, n in steps], [
            ("Started", 0, 2, 2),
            ("InProgress", 50, 0, 4),
            ("Successful", 100, 0, 4),
        ])

    def test_second_start_and_cancel(self) -> None:
        net = self.make_network()
        lt = self.make_template(net)
        self.make_group(net, lt, desired=2, version="$Latest")
        self.new_version(lt)
        rid = self.asg.start_instance_refresh(
            AutoScalingGroupName="app", Preferences={"MinHealthyPercentage": 100, "MaxHealthyPercentage": 150}
        )["InstanceRefreshId"]
        self.assertClientError("InstanceRefreshInProgress", self.asg.start_instance_refresh, AutoScalingGroupName="app")
        self.assertEqual(self.asg.cancel_instance_refresh(AutoScalingGroupName="app")["InstanceRefreshId"], rid)
        r = self.poll(rid)
        self.assertEqual(r["Status"], "Cancelled")
        self.assertIn("EndTime", r)
        self.assertEqual(len(self.group_instance_ids()), 2)  # the launch-first extra is gone
        self.assertClientError(
            "ActiveInstanceRefreshNotFound", self.asg.cancel_instance_refresh, AutoScalingGroupName="app"
        )

    def test_refresh_replaces_every_instance(self) -> None:
        net = self.make_network()
        lt = self.make_template(net)
        self.make_group(net, lt, desired=3, version="$Latest")
        old = self.group_instance_ids()
        self.ec2.create_launch_template_version(
            LaunchTemplateId=lt, SourceVersion="1", LaunchTemplateData={"InstanceType": "t3.small"}
        )
        bodies = capture_body(self.asg, "autoscaling.StartInstanceRefresh")
        refresh_id = self.asg.start_instance_refresh(
            AutoScalingGroupName="app",
            Preferences={"MinHealthyPercentage": 90, "InstanceWarmup": 0},
        )["InstanceRefreshId"]
        self.assertIn(ASG_NS.encode(), bodies[0])
        self.assertIn(b"<InstanceRefreshId>", bodies[0])
        running = self.poll(refresh_id)
        self.assertEqual(running["Status"], "InProgress")
        self.assertNotIn("EndTime", running)
        while self.poll(refresh_id)["Status"] == "InProgress":
            pass

        new = self.group_instance_ids()
        self.assertEqual(len(new), 3)
        self.assertFalse(set(old) & set(new))
        for inst in self.instances(old):
            self.assertEqual(inst["State"]["Name"], "terminated")
        for inst in self.instances(new):
            self.assertEqual(inst["InstanceType"], "t3.small")
            self.assertEqual(inst["MetadataOptions"]["HttpTokens"], "required")
            self.assertNotIn("PublicIpAddress", inst)
            tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
            self.assertEqual(tags["aws:ec2launchtemplate:version"], "2")
            self.assertEqual(tags["aws:autoscaling:groupName"], "app")
        self.assertEqual({i["LaunchTemplate"]["Version"] for i in self.group()["Instances"]}, {"2"})
        self.assertEqual(sorted(i["AvailabilityZone"] for i in self.group()["Instances"]),
                         ["us-east-1a", "us-east-1b", "us-east-1c"])
        self.assertEqual(self.targets(net["tg"]), new)

        bodies = capture_body(self.asg, "autoscaling.DescribeInstanceRefreshes")
        refreshes = self.asg.describe_instance_refreshes(AutoScalingGroupName="app")[
            "InstanceRefreshes"
        ]
        self.assertIn(ASG_NS.encode(), bodies[0])
        self.assertEqual(len(refreshes), 1)
        r = refreshes[0]
        self.assertEqual(r["InstanceRefreshId"], refresh_id)
        self.assertEqual(r["AutoScalingGroupName"], "app")
        self.assertEqual(r["Status"], "Successful")
        self.assertEqual(r["PercentageComplete"], 100)
        self.assertEqual(r["InstancesToUpdate"], 0)
        self.assertEqual(r["Preferences"]["MinHealthyPercentage"], 90)
        self.assertEqual(r["ProgressDetails"]["LivePoolProgress"]["PercentageComplete"], 100)
        self.assertLessEqual(r["StartTime"], r["EndTime"])
        self.assertEqual(
            self.asg.describe_instance_refreshes(
                AutoScalingGroupName="app", InstanceRefreshIds=["nope"]
            )["InstanceRefreshes"],
            [],
        )

    def test_skip_matching_and_desired_configuration(self) -> None:
        net = self.make_network()
        lt = self.make_template(net)
        self.make_group(net, lt, desired=2, version="1")
        first = self.group_instance_ids()
        rid = self.asg.start_instance_refresh(AutoScalingGroupName="app", Preferences={"SkipMatching": True})["InstanceRefreshId"]
        self.assertEqual(self.poll(rid)["Status"], "Successful")
        self.assertEqual(self.group_instance_ids(), first)  # already on version 1

        self.ec2.create_launch_template_version(
            LaunchTemplateId=lt, SourceVersion="1", LaunchTemplateData={"InstanceType": "t3.small"}
        )
        rid = self.asg.start_instance_refresh(
            AutoScalingGroupName="app",
            DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": lt, "Version": "2"}},
            Preferences={"SkipMatching": True},
        )["InstanceRefreshId"]
        while self.poll(rid)["Status"] == "InProgress":
            pass
        second = self.group_instance_ids()
        self.assertFalse(set(first) & set(second))
        self.assertEqual(self.group()["LaunchTemplate"]["Version"], "2")
        for inst in self.instances(second):
            self.assertEqual(inst["InstanceType"], "t3.small")
        refreshes = self.asg.describe_instance_refreshes(AutoScalingGroupName="app")[
            "InstanceRefreshes"
        ]
        self.assertEqual(len(refreshes), 2)
        self.assertEqual(refreshes[0]["DesiredConfiguration"]["LaunchTemplate"]["Version"], "2")

    def test_cancel_and_unknown_group(self) -> None:
        net = self.make_network()
        self.make_group(net, self.make_template(net), desired=1)
        err = self.assertClientError(
            "ActiveInstanceRefreshNotFound", self.asg.cancel_instance_refresh, AutoScalingGroupName="app"
        )
        self.assertEqual(err.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertClientError(
            "ValidationError", self.asg.start_instance_refresh, AutoScalingGroupName="missing"
        )
        self.assertEqual(
            self.asg.describe_instance_refreshes(AutoScalingGroupName="missing")["InstanceRefreshes"], []
        )


class TestIAM(EmulatorTestCase):
    def test_remove_role_not_in_profile_is_no_such_entity(self) -> None:
        iam = self.emu.client("iam")
        iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")
        iam.create_instance_profile(InstanceProfileName="p")
        iam.add_role_to_instance_profile(InstanceProfileName="p", RoleName="r")
        iam.remove_role_from_instance_profile(InstanceProfileName="p", RoleName="r")
        err = self.assertClientError(
            "NoSuchEntity", iam.remove_role_from_instance_profile, InstanceProfileName="p", RoleName="r"
        )
        self.assertEqual(err.response["ResponseMetadata"]["HTTPStatusCode"], 404)
        iam.delete_instance_profile(InstanceProfileName="p")


class TestElasticIpReassociation(EmulatorTestCase):
    def test_reassociation_moves_the_address(self) -> None:
        a, b = (i["InstanceId"] for i in self.ec2.run_instances(ImageId=AMI, MinCount=2, MaxCount=2)["Instances"])
        alloc = self.ec2.allocate_address(Domain="vpc")
        self.ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=a)
        self.ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=b, AllowReassociation=True)
        public = {
            i["InstanceId"]: i.get("PublicIpAddress")
            for r in self.ec2.describe_instances(InstanceIds=[a, b])["Reservations"]
            for i in r["Instances"]
        }
        self.assertEqual(public[b], alloc["PublicIp"])
        # a lost it; the default VPC's subnets auto-assign, so it has a new one
        self.assertIsNotNone(public[a])
        self.assertNotEqual(public[a], alloc["PublicIp"])
        address = self.ec2.describe_addresses(AllocationIds=[alloc["AllocationId"]])["Addresses"][0]
        self.assertEqual(address["InstanceId"], b)


class TestRouteBlackhole(EmulatorTestCase):
    def test_route_to_a_detached_gateway_is_a_blackhole(self) -> None:
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        igw = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        rtb = self.ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        self.ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)

        def default_route() -> dict:
            table = self.ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]
            return next(r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0")

        self.assertEqual(default_route()["State"], "active")
        self.ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        self.assertEqual(default_route()["State"], "blackhole")
        self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        self.assertEqual(default_route()["State"], "active")


class TestClientTokens(EmulatorTestCase):
    def test_vpc_endpoint_repeated_token_answers_the_first_endpoint_even_deleted(self) -> None:
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        rtb = self.ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]

        def create(token: str) -> dict:
            return self.ec2.create_vpc_endpoint(
                VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway",
                RouteTableIds=[rtb], ClientToken=token,
            )

        def endpoints() -> dict[str, str]:
            eps = self.ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
            return {ep["VpcEndpointId"]: ep["State"] for ep in eps}

        first = create("run-1")
        first_id = first["VpcEndpoint"]["VpcEndpointId"]
        self.assertEqual(first["ClientToken"], "run-1")
        self.assertEqual(create("run-1")["VpcEndpoint"]["VpcEndpointId"], first_id)
        self.assertEqual(list(endpoints()), [first_id])

        self.ec2.delete_vpc_endpoints(VpcEndpointIds=[first_id])
        again = create("run-1")["VpcEndpoint"]
        self.assertEqual(again["VpcEndpointId"], first_id)
        self.assertEqual(again["State"].lower(), "deleted")
        self.assertEqual(endpoints(), {first_id: "deleted"})

        second_id = create("run-2")["VpcEndpoint"]["VpcEndpointId"]
        self.assertNotEqual(second_id, first_id)
        self.assertEqual(endpoints(), {first_id: "deleted", second_id: "available"})

    def test_run_instances_repeated_token_answers_the_first_launch_even_terminated(self) -> None:
        def launch(token: str) -> str:
            out = self.ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, ClientToken=token)
            return out["Instances"][0]["InstanceId"]

        def launched() -> dict[str, str]:
            return {i["InstanceId"]: i["State"]["Name"] for r in self.ec2.describe_instances()["Reservations"]
                    for i in r["Instances"]}

        first = launch("run-1")
        self.assertEqual(launch("run-1"), first)
        self.assertEqual(launched(), {first: "running"})
        self.ec2.terminate_instances(InstanceIds=[first])
        self.assertEqual(launch("run-1"), first)
        self.assertEqual(launched(), {first: "terminated"})
        second = launch("run-2")
        self.assertNotEqual(second, first)
        self.assertEqual(launched(), {first: "terminated", second: "running"})

    def test_vpc_endpoint_without_a_token_every_call_creates(self) -> None:
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ids = {
            self.ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3")["VpcEndpoint"]["VpcEndpointId"]
            for _ in range(2)
        }
        self.assertEqual(len(ids), 2)


if __name__ == "__main__":
    unittest.main()
