"""Tests for the emulator's data plane (emulator/dataplane.py).

Run with:  python3 -m unittest emulator/test_dataplane.py   (from the repo root)
      or:  make test-emulator

They start the launcher with the data plane on (time scale 0.1, so health
checks run every second), create resources through boto3 and then look at
what answers on loopback: the time server processes, the load balancer, the
DNS server. They need the time server binary (`make build`); without it they
are skipped with that message.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

from test_wtt_emulator import AMI, Emulator

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataplane  # noqa: E402

BINARY = os.environ.get("WTT_SERVER_BINARY") or dataplane.default_server_binary()
BOOT_DELAY = 1.0
TIME_SCALE = 0.1  # the target groups below check every 10 s: here every 1 s


def wait_until(what: str, fn, timeout: float = 15.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def get(url: str, timeout: float = 2.0):
    """(status, headers, body) or the exception raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
    except OSError as e:
        return e


def answers(url: str) -> bool:
    r = get(url, timeout=1.0)
    return isinstance(r, tuple) and r[0] == 200


def dns_query(port: int, name: str, qtype: int = 1) -> tuple[int, list[tuple[int, int, str]]]:
    """(rcode, [(type, ttl, value)]) from the emulator's DNS server; a tiny
    client that relies on the server writing answer names uncompressed."""
    qid = random.randint(0, 65535)
    packet = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + dataplane.encode_name(name) + struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(packet, ("127.0.0.1", port))
        data, _ = s.recvfrom(4096)
    rid, flags, _, count = struct.unpack("!HHHH", data[:8])
    assert rid == qid, "answer id differs from the query's"
    i = 12
    while data[i]:
        i += data[i] + 1
    i += 5
    out = []
    for _ in range(count):
        while data[i]:
            i += data[i] + 1
        i += 1
        rtype, _, ttl, length = struct.unpack("!HHIH", data[i:i + 10])
        rdata = data[i + 10:i + 10 + length]
        if rtype == 1:
            value = socket.inet_ntoa(rdata)
        else:
            labels, j = [], 0
            while rdata[j]:
                labels.append(rdata[j + 1:j + 1 + rdata[j]].decode())
                j += rdata[j] + 1
            value = ".".join(labels)
        out.append((rtype, ttl, value))
        i += 10 + length
    return flags & 0xF, out


class DnsWireTest(unittest.TestCase):
    """The DNS encoding on its own, without a server."""

    def test_parse_and_answer(self) -> None:
        query = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + dataplane.encode_name("Api.Example.com.") + struct.pack("!HH", 1, 1)
        qid, flags, name, qtype, qclass, end = dataplane.parse_dns_query(query)
        self.assertEqual((qid, name, qtype, qclass, end), (7, "api.example.com", 1, 1, len(query)))
        reply = dataplane.build_dns_response(query, qid, flags, end, 0, [(name, 1, 300, socket.inet_aton("127.1.0.5"))])
        rid, rflags, qd, an = struct.unpack("!HHHH", reply[:8])
        self.assertEqual((rid, qd, an), (7, 1, 1))
        self.assertTrue(rflags & 0x8000 and rflags & 0x0400 and rflags & 0x0100)  # QR, AA, RD copied
        self.assertEqual(reply[-4:], socket.inet_aton("127.1.0.5"))
        self.assertEqual(struct.unpack("!I", reply[-10:-6])[0], 300)

    def test_garbage_is_ignored(self) -> None:
        self.assertIsNone(dataplane.parse_dns_query(b"\x00\x01"))
        self.assertIsNone(dataplane.parse_dns_query(struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x05ab"))


class RotationTest(unittest.TestCase):
    """Each load balancer spreads its own requests over its healthy targets:
    two clients in lock step, each through its own load balancer, each see
    every target (a counter shared by all load balancers showed each client
    every other target only)."""

    def test_two_load_balancers_in_lock_step_each_reach_every_target(self) -> None:
        import threading

        plane = dataplane.DataPlane(dataplane.Config(binary=BINARY, emulator_port=0), threading.RLock())
        seen = {}
        lbs = {}
        for name in ("a", "b"):
            arn = f"tg-{name}"
            ids = [f"i-{name}{k}" for k in range(4)]
            plane.target_groups[arn] = dataplane.TargetGroupView(
                arn=arn, name=arn, port=80, path="/healthz", health_port="traffic-port", protocol="HTTP",
                enabled=True, interval=10, timeout=5, healthy_threshold=2, unhealthy_threshold=2, matcher="200",
                drain=0, targets={i: 80 for i in ids}, lb_arns=[f"lb-{name}"])
            for k, i in enumerate(ids):
                plane.machines[i] = dataplane.Machine(id=i, account="1", region="us-east-1", az=f"us-east-1{'abcd'[k]}",
                                                      private_ip="10.0.0.1", private_loopback="127.0.0.1")
                plane.health[(arn, i)] = dataplane.TargetHealth(state="healthy")
            lbs[name] = dataplane.LoadBalancerProxy(plane, f"lb-{name}", name, f"{name}.elb", "127.0.0.1")
            seen[name] = set()
        for _ in range(8):
            for name in ("a", "b"):
                machine, _ = plane.pick_target([f"tg-{name}"], lbs[name])
                seen[name].add(machine.az)
        self.assertEqual(seen["a"], {"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"})
        self.assertEqual(seen["b"], {"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"})


@unittest.skipUnless(os.path.isfile(BINARY), f"no time server at {BINARY}: run `make build`")
class MovesAddressesTest(unittest.TestCase):
    """A request that moves a public address is answered only once the
    data plane serves the new address; the body it reads to tell stays
    readable for moto."""

    def environ(self, body: bytes, method: str = "POST") -> dict:
        import io

        return {"REQUEST_METHOD": method, "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}

    def test_address_actions_settle_and_the_body_is_put_back(self) -> None:
        for body in (b"Action=DisassociateAddress&Version=2016-11-15&AssociationId=eipassoc-1",
                     b"Version=2016-11-15&Action=ReleaseAddress&AllocationId=eipalloc-1",
                     b"Action=AssociateAddress&Version=2016-11-15"):
            env = self.environ(body)
            self.assertTrue(dataplane._moves_addresses(env), body)
            self.assertEqual(env["wsgi.input"].read(), body)

    def test_other_requests_do_not(self) -> None:
        for env in (self.environ(b"Action=DescribeAddresses&Version=2016-11-15"),
                    self.environ(b"Action=AllocateAddress&Version=2016-11-15"),
                    self.environ(b"", method="GET")):
            self.assertFalse(dataplane._moves_addresses(env))


class DataPlaneTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.emu = Emulator("--dataplane", "--boot-delay", str(BOOT_DELAY),
                           "--dataplane-time-scale", str(TIME_SCALE), "--server-binary", BINARY)
        cls.port = int(cls.emu.url.rsplit(":", 1)[1])
        cls.ec2 = cls.emu.client("ec2")
        cls.elb = cls.emu.client("elbv2")
        cls.r53 = cls.emu.client("route53")
        cls.asg = cls.emu.client("autoscaling")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.emu.stop()

    def tearDown(self) -> None:
        # WTT_DATAPLANE_TEST_LOG=1: show what the data plane said (replacements, errors)
        if os.environ.get("WTT_DATAPLANE_TEST_LOG"):
            lines = [l for l in self.emu.log if "wtt dataplane" in l]
            if lines:
                print("".join(lines[-20:]), file=sys.stderr)

    def setUp(self) -> None:
        self.emu.reset()
        wait_until("the reset to stop every instance", lambda: not self.state()["instances"])
        self.vpc = self.ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        self.subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in self.ec2.describe_subnets()["Subnets"]}

    # --- helpers -----------------------------------------------------------

    def state(self) -> dict:
        return json.load(urllib.request.urlopen(self.emu.url + "/wtt-dataplane/state", timeout=5))

    def machine(self, instance_id: str) -> dict | None:
        return next((m for m in self.state()["instances"] if m["instanceId"] == instance_id), None)

    def web_sg(self, name: str = "web", **source) -> str:
        sg = self.ec2.create_security_group(GroupName=name, Description=name, VpcId=self.vpc)["GroupId"]
        pair = {"UserIdGroupPairs": [{"GroupId": source["group"]}]} if "group" in source else {"IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        self.ec2.authorize_security_group_ingress(
            GroupId=sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, **pair}])
        return sg

    def launch(self, sg: str, az: str = "us-east-1a", count: int = 1, **extra) -> list[dict]:
        return self.ec2.run_instances(ImageId=AMI, MinCount=count, MaxCount=count, InstanceType="t2.micro",
                                      SecurityGroupIds=[sg], SubnetId=self.subnets[az], **extra)["Instances"]

    def describe(self, instance_id: str) -> dict:
        return self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]

    def load_balancer(self, instance_ids: list[str], path: str = "/healthz", drain: int = 20) -> tuple[dict, str, str]:
        """(LB, target group arn, LB loopback address) with the instances registered."""
        lb_sg = self.ec2.create_security_group(GroupName="lb", Description="lb", VpcId=self.vpc)["GroupId"]
        lb = self.elb.create_load_balancer(Name="web", Subnets=list(self.subnets.values())[:2],
                                           SecurityGroups=[lb_sg])["LoadBalancers"][0]
        tg = self.elb.create_target_group(
            Name="web", Protocol="HTTP", Port=80, VpcId=self.vpc, HealthCheckPath=path,
            HealthCheckIntervalSeconds=10, HealthCheckTimeoutSeconds=5, HealthyThresholdCount=2,
            UnhealthyThresholdCount=2, Matcher={"HttpCode": "200"})["TargetGroups"][0]["TargetGroupArn"]
        self.elb.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": str(drain)}])
        self.elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                 DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
        if instance_ids:
            self.elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": i} for i in instance_ids])
        address = wait_until("the load balancer's address", lambda: next(
            (b["address"] for b in self.state()["loadBalancers"] if b["arn"] == lb["LoadBalancerArn"] and 80 in b["listeners"]), None))
        return lb, tg, address

    def target_states(self, tg: str) -> dict[str, str]:
        return {d["Target"]["Id"]: d["TargetHealth"]["State"]
                for d in self.elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]}

    def served_by(self, url: str, n: int) -> dict[str, int]:
        seen: dict[str, int] = {}
        for _ in range(n):
            r = get(url)
            key = r[1]["X-Served-By-Instance"] if isinstance(r, tuple) and r[0] == 200 else f"failed: {r if not isinstance(r, tuple) else r[0]}"
            seen[key] = seen.get(key, 0) + 1
        return seen

    # --- instances -----------------------------------------------------------

    def test_instance_serves_the_time_on_its_public_address(self) -> None:
        inst = self.launch(self.web_sg(), az="us-east-1b")[0]
        desc = self.describe(inst["InstanceId"])
        ip = desc["PublicIpAddress"]
        self.assertRegex(ip, r"^127\.1\.\d+\.\d+$")
        wait_until("the instance to answer", lambda: answers(f"http://{ip}/healthz"))
        status, headers, body = get(f"http://{ip}/api/time?tz=Europe/Paris")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["zone"], "Europe/Paris")
        # the fake IMDSv2 told the real server where it runs
        wait_until("identity headers", lambda: get(f"http://{ip}/healthz")[1].get("X-Served-By-Instance"))
        _, headers, _ = get(f"http://{ip}/healthz")
        self.assertEqual(headers["X-Served-By-Instance"], inst["InstanceId"])
        self.assertEqual(headers["X-Served-By-AZ"], "us-east-1b")
        m = self.machine(inst["InstanceId"])
        self.assertEqual(m["status"], "serving")
        self.assertRegex(m["privateLoopback"], r"^127\.1\d\.\d+\.\d+$")
        self.assertEqual(m["privateLoopback"].split(".")[2:], desc["PrivateIpAddress"].split(".")[2:])

    def test_same_private_address_in_two_vpcs_gets_two_loopbacks(self) -> None:
        # two apps whose VPCs share a CIDR: moto gives both instances 10.40.10.4
        ids = []
        for name in ("one", "two"):
            vpc = self.ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
            subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.10.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
            sg = self.ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
            ids.append(self.ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="t2.micro",
                                              SecurityGroupIds=[sg], SubnetId=subnet)["Instances"][0]["InstanceId"])
        machines = wait_until("both serving", lambda: [m for m in map(self.machine, ids) if m and m["status"] == "serving"]
                              if all((m := self.machine(i)) and m["status"] == "serving" for i in ids) else None)
        self.assertEqual(machines[0]["privateIp"], machines[1]["privateIp"])
        self.assertNotEqual(machines[0]["privateLoopback"], machines[1]["privateLoopback"])

    def test_stop_silences_and_start_boots_after_the_delay(self) -> None:
        iid = self.launch(self.web_sg())[0]["InstanceId"]
        ip = self.describe(iid)["PublicIpAddress"]
        wait_until("the instance to answer", lambda: answers(f"http://{ip}/"))
        self.ec2.stop_instances(InstanceIds=[iid])
        wait_until("the stopped instance to go quiet", lambda: not answers(f"http://{ip}/"), timeout=5)
        self.assertIsNone(self.describe(iid).get("PublicIpAddress"))  # a stopped instance has none
        self.assertEqual(self.machine(iid)["status"], "stopped")
        self.ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "m5.large"})
        self.ec2.start_instances(InstanceIds=[iid])
        started = time.monotonic()
        new_ip = self.describe(iid)["PublicIpAddress"]
        self.assertRegex(new_ip, r"^127\.1\.")
        # booting: the API says running, nothing answers yet
        self.assertEqual(self.describe(iid)["State"]["Name"], "running")
        self.assertIsInstance(get(f"http://{new_ip}/", timeout=0.3), OSError)
        wait_until("the started instance to answer", lambda: answers(f"http://{new_ip}/"))
        self.assertGreaterEqual(time.monotonic() - started, BOOT_DELAY * 0.9)

    def test_terminate_ends_the_process(self) -> None:
        iid = self.launch(self.web_sg())[0]["InstanceId"]
        ip = self.describe(iid)["PublicIpAddress"]
        wait_until("the instance to answer", lambda: answers(f"http://{ip}/"))
        pid = self.machine(iid)["pid"]
        self.ec2.terminate_instances(InstanceIds=[iid])
        wait_until("the instance to go quiet", lambda: not answers(f"http://{ip}/"), timeout=5)
        wait_until("the time server process to end", lambda: not _alive(pid), timeout=10)
        wait_until("the machine to be forgotten", lambda: self.machine(iid) is None)

    def test_private_instance_has_no_public_address(self) -> None:
        subnet = self.ec2.create_subnet(VpcId=self.vpc, CidrBlock="172.31.200.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        iid = self.ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet,
                                     SecurityGroupIds=[self.web_sg()])["Instances"][0]["InstanceId"]
        self.assertNotIn("PublicIpAddress", self.describe(iid))
        m = wait_until("the instance to serve", lambda: (m := self.machine(iid)) and m["status"] == "serving" and m)
        self.assertFalse(m["publicReachable"])
        self.assertEqual(m["listening"], [m["privateLoopback"]])
        # its private address answers only load balancers its security group admits
        self.assertIsInstance(get(f"http://{m['privateLoopback']}/"), OSError)

    def test_security_group_without_port_80_refuses(self) -> None:
        sg = self.ec2.create_security_group(GroupName="ssh", Description="ssh", VpcId=self.vpc)["GroupId"]
        self.ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        iid = self.launch(sg)[0]["InstanceId"]
        ip = self.describe(iid)["PublicIpAddress"]
        wait_until("the instance to serve", lambda: (self.machine(iid) or {}).get("status") == "serving")
        self.assertIsInstance(get(f"http://{ip}/"), OSError)
        # opening port 80 to the world makes it answer
        self.ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        wait_until("port 80 to open", lambda: answers(f"http://{ip}/"))

    def test_elastic_ip_answers_and_moves(self) -> None:
        a, b = (i["InstanceId"] for i in self.launch(self.web_sg(), count=2))
        alloc = self.ec2.allocate_address(Domain="vpc")
        eip = alloc["PublicIp"]
        self.assertRegex(eip, r"^127\.2\.\d+\.\d+$")
        self.ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=a)
        wait_until("the EIP to reach a", lambda: answers(f"http://{eip}/") and get(f"http://{eip}/")[1].get("X-Served-By-Instance") == a)
        self.ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=b, AllowReassociation=True)
        wait_until("the EIP to reach b", lambda: answers(f"http://{eip}/") and get(f"http://{eip}/")[1].get("X-Served-By-Instance") == b)

    def test_kill_an_az_without_telling_the_api(self) -> None:
        sg = self.web_sg()
        a = self.launch(sg, az="us-east-1a")[0]["InstanceId"]
        b = self.launch(sg, az="us-east-1b")[0]["InstanceId"]
        ips = {i: self.describe(i)["PublicIpAddress"] for i in (a, b)}
        for ip in ips.values():
            wait_until("instances to answer", lambda: answers(f"http://{ip}/"))
        req = urllib.request.Request(self.emu.url + "/wtt-dataplane/kill?az=us-east-1a", method="POST", data=b"")
        self.assertEqual(json.load(urllib.request.urlopen(req, timeout=5)), {"killed": [a]})
        self.assertIsInstance(get(f"http://{ips[a]}/"), OSError)
        self.assertTrue(answers(f"http://{ips[b]}/"))
        self.assertEqual(self.describe(a)["State"]["Name"], "running")  # the API does not know
        self.assertEqual(self.machine(a)["status"], "killed")
        # a reboot brings it back
        self.ec2.reboot_instances(InstanceIds=[a])
        wait_until("the rebooted instance to answer", lambda: answers(f"http://{ips[a]}/"))

    def test_kill_needs_a_target(self) -> None:
        req = urllib.request.Request(self.emu.url + "/wtt-dataplane/kill", method="POST", data=b"")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        self.assertEqual(e.exception.code, 400)

    # --- load balancer -------------------------------------------------------

    def test_load_balancer_routes_to_healthy_targets_only(self) -> None:
        lb, tg, address = self.load_balancer([])
        lb_sg = lb["SecurityGroups"][0]
        ids = [i["InstanceId"] for i in self.launch(self.web_sg(group=lb_sg), count=2)]
        # nothing registered yet: 503, as an ALB answers
        self.assertEqual(get(f"http://{address}/")[0], 503)
        self.elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": i} for i in ids])
        self.assertEqual(set(self.target_states(tg).values()), {"initial"})
        wait_until("both targets healthy", lambda: set(self.target_states(tg).values()) == {"healthy"})
        seen = self.served_by(f"http://{address}/api/time?tz=UTC", 10)
        self.assertEqual(seen, {ids[0]: 5, ids[1]: 5})
        # the instances' public addresses are closed to the world by their security group
        self.assertIsInstance(get(f"http://{self.describe(ids[0])['PublicIpAddress']}/"), OSError)
        # a dead target is found unhealthy, then no request goes to it
        req = urllib.request.Request(self.emu.url + f"/wtt-dataplane/kill?instance={ids[0]}", method="POST", data=b"")
        urllib.request.urlopen(req, timeout=5).read()
        wait_until("the dead target to be unhealthy", lambda: self.target_states(tg)[ids[0]] == "unhealthy")
        desc = self.elb.describe_target_health(TargetGroupArn=tg, Targets=[{"Id": ids[0]}])["TargetHealthDescriptions"][0]
        self.assertEqual(desc["TargetHealth"]["Reason"], "Target.FailedHealthChecks")
        self.assertEqual(self.served_by(f"http://{address}/", 10), {ids[1]: 10})
        # deregistration drains: listed as draining, no new requests, then gone
        self.elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": ids[1]}])
        self.assertEqual(self.target_states(tg)[ids[1]], "draining")
        wait_until("the drain to end", lambda: ids[1] not in self.target_states(tg), timeout=10)

    def test_health_check_path_and_matcher(self) -> None:
        lb, tg, address = self.load_balancer([], path="/no-such-page")
        iid = self.launch(self.web_sg(group=lb["SecurityGroups"][0]))[0]["InstanceId"]
        self.elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": iid}])
        wait_until("the target to fail its checks", lambda: self.target_states(tg)[iid] == "unhealthy")
        desc = self.elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"][0]["TargetHealth"]
        self.assertEqual(desc["Reason"], "Target.ResponseCodeMismatch")
        self.assertIn("404", desc["Description"])
        # every target unhealthy: the ALB fails open and still forwards
        self.assertEqual(get(f"http://{address}/healthz")[0], 200)

    def test_security_group_keeps_the_load_balancer_out(self) -> None:
        lb, tg, address = self.load_balancer([])
        iid = self.launch(self.web_sg())[0]["InstanceId"]  # admits 0.0.0.0/0 on 80, so the LB too
        other = self.ec2.create_security_group(GroupName="closed", Description="closed", VpcId=self.vpc)["GroupId"]
        shut = self.launch(other)[0]["InstanceId"]  # admits nothing
        self.elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": iid}, {"Id": shut}])
        wait_until("checks to settle", lambda: self.target_states(tg) == {iid: "healthy", shut: "unhealthy"})

    def test_auto_scaling_replaces_what_the_load_balancer_finds_dead(self) -> None:
        lb, tg, address = self.load_balancer([])
        sg = self.web_sg(group=lb["SecurityGroups"][0])
        self.ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={
            "ImageId": AMI, "InstanceType": "t2.micro", "SecurityGroupIds": [sg]})
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName="web", MinSize=2, MaxSize=2, DesiredCapacity=2,
            LaunchTemplate={"LaunchTemplateName": "web", "Version": "$Latest"},
            VPCZoneIdentifier=",".join([self.subnets["us-east-1a"], self.subnets["us-east-1b"]]),
            TargetGroupARNs=[tg], HealthCheckType="ELB", HealthCheckGracePeriod=10)
        group = lambda: self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
        before = {i["InstanceId"]: i["AvailabilityZone"] for i in group()["Instances"]}
        wait_until("targets healthy", lambda: self.target_states(tg) == {i: "healthy" for i in before})
        victim = next(i for i, az in before.items() if az == "us-east-1a")
        req = urllib.request.Request(self.emu.url + "/wtt-dataplane/kill?az=us-east-1a", method="POST", data=b"")
        self.assertEqual(json.load(urllib.request.urlopen(req, timeout=5))["killed"], [victim])
        wait_until("a replacement", lambda: victim not in {i["InstanceId"] for i in group()["Instances"]}, timeout=20)
        after = {i["InstanceId"]: i["AvailabilityZone"] for i in group()["Instances"]}
        self.assertEqual(len(after), 2)
        self.assertEqual(sorted(after.values()), ["us-east-1a", "us-east-1b"])
        self.assertEqual(self.describe(victim)["State"]["Name"], "terminated")
        wait_until("the replacement healthy", lambda: self.target_states(tg) == {i: "healthy" for i in after}, timeout=20)
        self.assertEqual(set(self.served_by(f"http://{address}/", 6)), set(after))

    def refreshing_group(self) -> tuple[str, str, set[str], str]:
        """(target group, load balancer address, the old instances, refresh
        id): a group of 2 behind a load balancer, its targets healthy, then
        a refresh with min 100% / max 150% and no warmup started."""
        lb, tg, address = self.load_balancer([], drain=10)
        sg = self.web_sg(group=lb["SecurityGroups"][0])
        self.ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={
            "ImageId": AMI, "InstanceType": "t2.micro", "SecurityGroupIds": [sg]})
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName="web", MinSize=2, MaxSize=3, DesiredCapacity=2,
            LaunchTemplate={"LaunchTemplateName": "web", "Version": "$Latest"},
            VPCZoneIdentifier=",".join([self.subnets["us-east-1a"], self.subnets["us-east-1b"]]),
            TargetGroupARNs=[tg], HealthCheckType="ELB", HealthCheckGracePeriod=10)
        old = self.group_ids()
        wait_until("targets healthy", lambda: self.target_states(tg) == {i: "healthy" for i in old})
        self.ec2.create_launch_template_version(LaunchTemplateName="web", SourceVersion="1",
                                                LaunchTemplateData={"InstanceType": "t3.small"})
        rid = self.asg.start_instance_refresh(
            AutoScalingGroupName="web",
            Preferences={"MinHealthyPercentage": 100, "MaxHealthyPercentage": 150, "InstanceWarmup": 0},
        )["InstanceRefreshId"]
        return tg, address, old, rid

    def group_ids(self) -> set[str]:
        return {i["InstanceId"] for i in self.asg.describe_auto_scaling_groups(
            AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]["Instances"]}

    def test_instance_refresh_waits_for_the_replacement_of_a_failed_new_instance(self) -> None:
        tg, address, old, rid = self.refreshing_group()
        first_new = (self.group_ids() - old).pop()
        req = urllib.request.Request(self.emu.url + f"/wtt-dataplane/kill?instance={first_new}", method="POST", data=b"")
        urllib.request.urlopen(req, timeout=5).read()
        failed, healthy = [], []

        def done() -> bool:
            got = get(f"http://{address}/")
            if not (isinstance(got, tuple) and got[0] == 200):
                failed.append(got)
            healthy.append(sum(1 for st in self.target_states(tg).values() if st == "healthy"))
            r = self.asg.describe_instance_refreshes(AutoScalingGroupName="web", InstanceRefreshIds=[rid])["InstanceRefreshes"][0]
            return r["Status"] == "Successful"

        wait_until("the refresh to succeed", done, timeout=60, every=0.1)
        now = self.group_ids()
        self.assertEqual(len(now), 2)
        self.assertFalse(now & (old | {first_new}))  # the killed one's replacement took its place
        self.assertEqual(self.describe(first_new)["State"]["Name"], "terminated")
        self.assertEqual(failed, [])
        self.assertGreaterEqual(min(healthy), 2)  # no old one left before the replacement was healthy

    def test_instance_refresh_rolls_through_health_checks(self) -> None:
        # min 100% / max 150% of 2: each new instance must pass the load
        # balancer's health checks before an old one leaves, drains and goes
        tg, address, old, rid = self.refreshing_group()
        group = lambda: self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
        seen, fewest_healthy, failed, answers = [], 3, [], 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = self.asg.describe_instance_refreshes(AutoScalingGroupName="web", InstanceRefreshIds=[rid])["InstanceRefreshes"][0]
            if not seen or seen[-1] != (r["Status"], r["PercentageComplete"]):
                seen.append((r["Status"], r["PercentageComplete"]))
            states = self.target_states(tg)
            fewest_healthy = min(fewest_healthy, sum(1 for st in states.values() if st == "healthy"))
            got = get(f"http://{address}/")
            if isinstance(got, tuple) and got[0] == 200:
                answers += 1
            else:
                failed.append(got)
            if r["Status"] != "InProgress":
                break
            time.sleep(0.1)
        # 100% but still InProgress while the last old instance drains
        self.assertIn(seen, ([("InProgress", 0), ("InProgress", 50), ("Successful", 100)],
                             [("InProgress", 0), ("InProgress", 50), ("InProgress", 100), ("Successful", 100)]))
        self.assertGreaterEqual(fewest_healthy, 2)  # never below 100% of 2
        self.assertEqual(failed, [])
        self.assertGreater(answers, 20)
        new = {i["InstanceId"] for i in group()["Instances"]}
        self.assertFalse(new & old)
        for i in old:  # drained (1 s here), then terminated
            self.assertEqual(self.describe(i)["State"]["Name"], "terminated")
        self.assertEqual(set(self.served_by(f"http://{address}/", 6)), new)

    # --- DNS -------------------------------------------------------------------

    def test_route53_records_over_dns(self) -> None:
        lb, tg, address = self.load_balancer([])
        zone = self.r53.create_hosted_zone(Name="example.com", CallerReference="t")["HostedZone"]["Id"]
        changes = [
            {"Name": "a.example.com", "Type": "A", "TTL": 123, "ResourceRecords": [{"Value": "127.1.2.3"}, {"Value": "127.1.2.4"}]},
            {"Name": "www.example.com", "Type": "A", "AliasTarget": {
                "HostedZoneId": lb["CanonicalHostedZoneId"], "DNSName": "dualstack." + lb["DNSName"], "EvaluateTargetHealth": False}},
            {"Name": "api.example.com", "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": lb["DNSName"]}]},
        ]
        self.r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            {"Action": "UPSERT", "ResourceRecordSet": c} for c in changes]})
        self.assertEqual(dns_query(self.port, "a.example.com"), (0, [(1, 123, "127.1.2.3"), (1, 123, "127.1.2.4")]))
        self.assertEqual(dns_query(self.port, "WWW.Example.com."), (0, [(1, 60, address)]))
        self.assertEqual(dns_query(self.port, lb["DNSName"]), (0, [(1, 60, address)]))
        self.assertEqual(dns_query(self.port, "api.example.com"),
                         (0, [(5, 60, lb["DNSName"].lower()), (1, 60, address)]))
        self.assertEqual(dns_query(self.port, "nothing.example.com")[0], 3)  # NXDOMAIN
        self.assertEqual(dns_query(self.port, "example.org")[0], 3)
        self.assertEqual(dns_query(self.port, "example.com"), (0, []))  # the apex exists, has no A

    @unittest.skipUnless(shutil.which("curl"), "curl is not installed")
    def test_curl_reaches_the_app_through_the_emulators_dns(self) -> None:
        """What docs/emulator.md tells a user to do: resolve with the
        emulator's DNS, then curl --resolve."""
        iid = self.launch(self.web_sg())[0]["InstanceId"]
        ip = self.describe(iid)["PublicIpAddress"]
        zone = self.r53.create_hosted_zone(Name="whatisthetime.com", CallerReference="t")["HostedZone"]["Id"]
        self.r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": "api.whatisthetime.com", "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": ip}]}}]})
        wait_until("the instance to answer", lambda: answers(f"http://{ip}/"))
        resolver = os.path.join(HERE, "dataplane.py")
        addr = subprocess.run([sys.executable, resolver, "resolve", "--port", str(self.port), "api.whatisthetime.com"],
                              capture_output=True, text=True, timeout=30, check=True).stdout.strip()
        self.assertEqual(addr, ip)
        out = subprocess.run(["curl", "-sS", "-m", "5", "-D", "-", "--resolve", f"api.whatisthetime.com:80:{addr}",
                              "http://api.whatisthetime.com/api/time?tz=Asia/Tokyo"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("200", out.stdout.splitlines()[0])
        self.assertIn(f"X-Served-By-Instance: {iid}", out.stdout)
        self.assertIn('"zone":"Asia/Tokyo"', out.stdout.replace(" ", ""))


@unittest.skipUnless(os.path.isfile(BINARY), f"no time server at {BINARY}: run `make build`")
class NoOrphansTest(unittest.TestCase):
    def test_sigkill_of_the_emulator_ends_every_time_server(self) -> None:
        emu = Emulator("--dataplane", "--boot-delay", "0", "--server-binary", BINARY)
        try:
            ec2 = emu.client("ec2")
            ec2.run_instances(ImageId=AMI, MinCount=3, MaxCount=3)
            state = lambda: json.load(urllib.request.urlopen(emu.url + "/wtt-dataplane/state", timeout=5))
            pids = wait_until("three time servers", lambda: (p := [m["pid"] for m in state()["instances"] if m["pid"]]) and len(p) == 3 and p)
            self.assertTrue(all(_alive(p) for p in pids))
            os.kill(emu.proc.pid, signal.SIGKILL)
            emu.proc.wait()
            wait_until("the time servers to die with the emulator", lambda: not any(_alive(p) for p in pids), timeout=10)
        finally:
            emu.stop()


def _alive(pid: int) -> bool:
    """Running (a zombie left for init to reap counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


if __name__ == "__main__":
    unittest.main()
