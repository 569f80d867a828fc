"""The speedups (emulator/speedups.py) change no answer.

Run with:  python3 -m unittest test_speedups   (from emulator/)

Two emulators, one with WTT_EMULATOR_SPEEDUPS=0 (moto as it is) and one with
the speedups, get the same sequence of requests, one at a time: the calls
wtt makes on its way up the ladder and down again (EC2, Elastic Load
Balancing, Auto Scaling, IAM, Route 53, SSM, S3, STS, the additions'
Reserved Instances), errors among them, then a reset and a few more. Every
raw answer (status and body) must be the same on both, once the values
moto draws at random (ids, addresses, request ids) and the clock's
timestamps are numbered in order of first appearance: the same value in the
same places on one side must be the same value in the same places on the
other.
"""

from __future__ import annotations

import os
import re
import unittest
from typing import Any, Callable

from botocore.exceptions import ClientError

from test_wtt_emulator import AMI, Emulator

# What moto draws at random or reads off the clock. Everything else in an
# answer (element names, order, counts, states, names, CIDRs, the caller's
# account, messages) is compared as it is.
_TOKENS = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"  # timestamps
    r"|\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b(?!/)"  # addresses moto picks (not CIDRs)
    r"|\b(?:[0-9a-f]{2}:){5}[0-9a-f]{2}\b"  # MAC addresses
    r"|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"  # UUIDs
    r"|\b[0-9A-Za-z]+(?:\.\d+)?\b"  # words: random ids among them
)


def _random_word(word: str, before: str) -> bool:
    """Whether a word is one moto drew at random (or an epoch time)."""
    if before.endswith("<") or before.endswith("</"):
        return False  # an element's name (ipv6AddressesSet)
    if len(word) >= 8 and any(ch.isdigit() for ch in word):
        return True  # hex ids (vpc-..., i-..., ARN suffixes), request ids, epoch times, DNS numbers
    if len(word) >= 13 and word.isupper():
        return True  # IAM, Route 53 ids of letters only
    return before.endswith("Id>") and len(word) >= 10  # lower-case ids (instance profiles)


# A clock reading: whether two of them in one answer are equal depends on
# whether the calls that made them fell in the same second, not on the
# speedups, so every one reads <time> (numbered, a second boundary between
# two creates under load made one run's pair equal and the other's not).
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")


def canonical(body: bytes) -> str:
    """body with each volatile value replaced by its order of first appearance
    (clock readings by <time>)."""
    text = body.decode("utf-8", "replace")
    seen: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        token = match.group(0)
        if _TIMESTAMP.fullmatch(token):
            return "<time>"
        if token[0].isalnum() and ":" not in token and "-" not in token and token.count(".") <= 1:
            if not _random_word(token, text[max(0, match.start() - 3):match.start()]):
                return token
        return f"<{seen.setdefault(token, len(seen))}>"

    return _TOKENS.sub(number, text)


Call = Callable[[Callable[[str], Any]], Any]


def ladder(c: Callable[[str], Any]) -> None:
    """wtt's kinds of calls, in the order a walk up and down makes them."""
    sts, ec2, iam, ssm = c("sts"), c("ec2"), c("iam"), c("ssm")
    elb, asg, r53, s3 = c("elbv2"), c("autoscaling"), c("route53"), c("s3")

    def expect_error(call: Callable[[], Any]) -> None:
        try:
            call()
        except ClientError:
            return

    sts.get_caller_identity()
    expect_error(lambda: ssm.get_parameter(Name="/wtt/app/state"))
    ssm.put_parameter(Name="/wtt/app/state", Value="up", Type="String", Overwrite=True)
    ssm.get_parameter(Name="/wtt/app/state")
    ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])
    vpc = ec2.create_vpc(
        CidrBlock="10.0.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "wtt:app", "Value": "app"}]}],
    )["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{az}")["Subnet"]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"))
    ]
    ec2.create_tags(Resources=subnets, Tags=[{"Key": "wtt:app", "Value": "app"}, {"Key": "Name", "Value": "app"}])
    ec2.describe_subnets(Filters=[{"Name": "tag:wtt:app", "Values": ["app"]}])
    ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": subnets[:1]}])
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    s3_endpoint = {"VpcId": vpc, "ServiceName": "com.amazonaws.us-east-1.s3", "VpcEndpointType": "Gateway",
                   "RouteTableIds": [rtb], "ClientToken": "vpce-token"}
    endpoint = ec2.create_vpc_endpoint(**s3_endpoint)["VpcEndpoint"]["VpcEndpointId"]
    ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint])
    ec2.create_vpc_endpoint(**s3_endpoint)  # the deleted one, by its token
    ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    sg = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    ec2.describe_security_groups(GroupIds=[sg])
    expect_error(lambda: ec2.describe_security_groups(GroupIds=["sg-0123456789abcdef0"]))

    iam.create_role(RoleName="app", AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[]}')
    iam.attach_role_policy(RoleName="app", PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
    iam.create_instance_profile(InstanceProfileName="app")
    iam.add_role_to_instance_profile(InstanceProfileName="app", RoleName="app")
    iam.get_role(RoleName="app")
    iam.get_instance_profile(InstanceProfileName="app")
    iam.list_attached_role_policies(RoleName="app")
    iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
    expect_error(lambda: iam.get_role(RoleName="nope"))

    ec2.describe_instance_types(InstanceTypes=["t2.micro", "m5.large"])
    ec2.describe_instance_type_offerings(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": ["t2.micro"]}]
    )
    ec2.describe_images(ImageIds=[AMI])
    instances = ec2.run_instances(
        ImageId=AMI, InstanceType="t2.micro", MinCount=2, MaxCount=2, SubnetId=subnets[0], SecurityGroupIds=[sg],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "wtt:app", "Value": "app"}]}],
    )["Instances"]
    ids = [i["InstanceId"] for i in instances]
    ec2.describe_instances(Filters=[{"Name": "tag:wtt:app", "Values": ["app"]}])
    ec2.describe_instances(InstanceIds=ids)
    expect_error(lambda: ec2.describe_instances(InstanceIds=["i-0123456789abcdef0"]))
    alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=alloc, InstanceId=ids[0])
    ec2.associate_address(AllocationId=alloc, InstanceId=ids[1], AllowReassociation=True)
    ec2.describe_addresses(AllocationIds=[alloc])
    ec2.stop_instances(InstanceIds=ids[:1])
    ec2.modify_instance_attribute(InstanceId=ids[0], InstanceType={"Value": "m5.large"})
    ec2.start_instances(InstanceIds=ids[:1])

    zone = r53.create_hosted_zone(Name="example.com", CallerReference="app")["HostedZone"]["Id"]
    change = r53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": "api.example.com", "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": "192.0.2.1"}]}}]},
    )["ChangeInfo"]["Id"]
    r53.get_change(Id=change)
    r53.list_resource_record_sets(HostedZoneId=zone)
    r53.list_hosted_zones()
    expect_error(lambda: r53.get_hosted_zone(Id="Z0000000000000000000"))

    lb = elb.create_load_balancer(Name="app", Subnets=subnets, SecurityGroups=[sg])["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(Name="app", Protocol="HTTP", Port=80, VpcId=vpc, HealthCheckPath="/healthz")[
        "TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": i} for i in ids])
    elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    elb.describe_load_balancers(Names=["app"])
    elb.describe_target_groups(LoadBalancerArn=lb)
    elb.describe_target_health(TargetGroupArn=tg)
    elb.describe_tags(ResourceArns=[lb, tg])
    expect_error(lambda: elb.describe_load_balancers(Names=["nope"]))

    lt = ec2.create_launch_template(
        LaunchTemplateName="app", LaunchTemplateData={"ImageId": AMI, "InstanceType": "t2.micro", "SecurityGroupIds": [sg]}
    )["LaunchTemplate"]["LaunchTemplateId"]
    ec2.create_launch_template_version(LaunchTemplateId=lt, SourceVersion="1", LaunchTemplateData={"InstanceType": "m5.large"})
    ec2.describe_launch_template_versions(LaunchTemplateId=lt)
    asg.create_auto_scaling_group(
        AutoScalingGroupName="app", LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"},
        MinSize=2, MaxSize=4, DesiredCapacity=2, VPCZoneIdentifier=",".join(subnets), TargetGroupARNs=[tg],
    )
    asg.describe_auto_scaling_groups(AutoScalingGroupNames=["app"])
    asg.update_auto_scaling_group(AutoScalingGroupName="app", DesiredCapacity=3)
    asg.describe_auto_scaling_groups(AutoScalingGroupNames=["app"])
    asg.describe_policies(AutoScalingGroupName="app")
    expect_error(lambda: asg.start_instance_refresh(AutoScalingGroupName="nope"))

    offerings = ec2.describe_reserved_instances_offerings(
        InstanceType="m5.large", ProductDescription="Linux/UNIX", OfferingClass="standard",
        OfferingType="No Upfront", InstanceTenancy="default", MaxDuration=31536000,
    )["ReservedInstancesOfferings"]
    ec2.purchase_reserved_instances_offering(ReservedInstancesOfferingId=offerings[0]["ReservedInstancesOfferingId"], InstanceCount=1)
    ec2.describe_reserved_instances()

    s3.create_bucket(Bucket="app-state")
    s3.put_object(Bucket="app-state", Key="lease", Body=b"held")
    s3.get_object(Bucket="app-state", Key="lease")
    s3.list_objects_v2(Bucket="app-state")
    expect_error(lambda: s3.get_object(Bucket="app-state", Key="nope"))

    asg.delete_auto_scaling_group(AutoScalingGroupName="app", ForceDelete=True)
    elb.delete_load_balancer(LoadBalancerArn=lb)
    ec2.release_address(AllocationId=alloc)
    ec2.terminate_instances(InstanceIds=ids)
    ec2.describe_instances(InstanceIds=ids)
    iam.remove_role_from_instance_profile(InstanceProfileName="app", RoleName="app")
    expect_error(lambda: iam.remove_role_from_instance_profile(InstanceProfileName="app", RoleName="app"))
    iam.delete_instance_profile(InstanceProfileName="app")
    iam.detach_role_policy(RoleName="app", PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
    iam.delete_role(RoleName="app")


def after_reset(c: Callable[[str], Any]) -> None:
    """After POST /moto-api/reset: nothing of the walk is left, defaults are back."""
    c("ec2").describe_vpcs()
    c("ec2").describe_instances()
    c("iam").list_roles()
    c("route53").list_hosted_zones()
    c("elbv2").describe_load_balancers()
    c("autoscaling").describe_auto_scaling_groups()
    c("sts").get_caller_identity()


def answers(emulator: Emulator) -> list[tuple[str, int, str]]:
    """Run the workload on one emulator; every raw answer, in order."""
    got: list[tuple[str, int, str]] = []

    def hook(http_response: Any, model: Any, **_: Any) -> None:
        got.append((model.name, http_response.status_code, canonical(http_response.content)))

    def client(service: str) -> Any:
        cl = emulator.client(service)
        cl.meta.events.register("after-call", hook)
        return cl

    ladder(client)
    emulator.reset()
    after_reset(client)
    return got


class SpeedupsChangeNoAnswer(unittest.TestCase):
    maxDiff = None

    def test_direct_xml_writer_writes_what_xmltodict_writes(self) -> None:
        import xmltodict

        import speedups

        original = xmltodict.unparse
        speedups.direct_xml_writer()
        try:
            direct = xmltodict.unparse
            self.assertIsNot(direct, original)
            awkward = [
                {"R": {"@xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/", "a": "x < y & z > w", "b": None, "c": ""}},
                {"R": {"@q": 'say "hi"', "@r": "it's", "@s": "both \"'", "@t": "tab\tnew\nline\r", "#text": "t"}},
                {"R": {"l": [], "m": [None, "", 0, False, True, 1.5, b"bytes", {"n": "1"}], "e": {}}},
                {"R": {"nested": {"deeper": [{"x": "1"}, {"x": "2", "@id": 3}], "#text": "tail"}}},
                {"R": {"gen": (str(i) for i in range(3)), "num": 7, "none": [None]}},
                {"R": {"bad name": "v"}},  # xmltodict refuses it: so must the writer
                {"R": {"#comment": "c", "a": "1"}},  # comments go to xmltodict
                {"A": "1", "B": "2"},  # two roots
                {},
            ]
            for doc in awkward:
                for full in (True, False):
                    for short in (True, False):
                        def run(unparse: Any, doc: Any = doc, full: bool = full, short: bool = short) -> Any:
                            copy = {k: (list(v) if hasattr(v, "__next__") else v) for k, v in doc.items()}
                            if "R" in copy and isinstance(copy["R"], dict) and "gen" in copy["R"]:
                                copy["R"] = dict(copy["R"], gen=(str(i) for i in range(3)))
                            try:
                                return unparse(copy, full_document=full, short_empty_elements=short)
                            except ValueError as e:
                                return ("ValueError", str(e))

                        self.assertEqual(run(original), run(direct), (doc, full, short))
        finally:
            xmltodict.unparse = original

    def test_same_answers_with_and_without_speedups(self) -> None:
        runs: dict[str, list[tuple[str, int, str]]] = {}
        for setting in ("0", "1"):
            previous = os.environ.get("WTT_EMULATOR_SPEEDUPS")
            os.environ["WTT_EMULATOR_SPEEDUPS"] = setting
            try:
                emulator = Emulator()
            finally:
                if previous is None:
                    del os.environ["WTT_EMULATOR_SPEEDUPS"]
                else:
                    os.environ["WTT_EMULATOR_SPEEDUPS"] = previous
            try:
                runs[setting] = answers(emulator)
            finally:
                emulator.stop()
        without, with_ = runs["0"], runs["1"]
        self.assertGreater(len(without), 80, "the workload ran")
        self.assertEqual([a[:2] for a in without], [a[:2] for a in with_], "the same operations and statuses")
        for a, b in zip(without, with_):
            self.assertEqual(a, b, f"{a[0]} answered differently with the speedups")
        # The workload met errors and served answers of every kind it meant to.
        statuses = {status for _, status, _ in without}
        self.assertTrue(statuses & {400, 404}, statuses)


if __name__ == "__main__":
    unittest.main()
