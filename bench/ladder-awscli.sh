#!/usr/bin/env bash
# The same ladder as `wtt up` ... `wtt migrate --to=reserved`, written by
# hand as an aws-cli runbook: what a competent operator without wtt would
# run. One `aws` process per request, no observation beyond what each step
# needs, and the waits AWS requires or the same care wtt takes needs, each
# with the aws-cli's own waiter (`aws ... wait`, polling every 15 s, or 30 s
# for Route 53): an instance running before it gets an address or a target
# registration, new targets healthy before traffic moves to them, a DNS
# change in sync before what it replaced goes, old targets drained before
# they are terminated. bench/ladder.sh times it beside wtt.
#
# Needs AWS_ENDPOINT_URL (the emulator) and credentials in the environment;
# APP names the resources. Prints one line per request to $CALL_LOG if set.
set -euo pipefail
APP=${APP:-awscli}
# A waiter is logged as one line, though it polls until its condition holds.
aws() {
  if [ -n "${CALL_LOG:-}" ]; then
    if [ "$2" = wait ]; then echo "$1:wait $3"; else echo "$1:$2"; fi >>"$CALL_LOG"
  fi
  command aws --output text "$@"
}
tag="ResourceType=%s,Tags=[{Key=wtt:app,Value=$APP}]"

# 1. up: a VPC with two public subnets, a route to the internet, a web
# security group, one t2.micro.
vpc=$(aws ec2 create-vpc --cidr-block 10.60.0.0/16 --tag-specifications "$(printf "$tag" vpc)" --query Vpc.VpcId)
sa=$(aws ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.60.1.0/24 --availability-zone us-east-1a --query Subnet.SubnetId)
sb=$(aws ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.60.2.0/24 --availability-zone us-east-1b --query Subnet.SubnetId)
sc=$(aws ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.60.3.0/24 --availability-zone us-east-1c --query Subnet.SubnetId)
igw=$(aws ec2 create-internet-gateway --query InternetGateway.InternetGatewayId)
aws ec2 attach-internet-gateway --internet-gateway-id "$igw" --vpc-id "$vpc" >/dev/null
rtb=$(aws ec2 create-route-table --vpc-id "$vpc" --query RouteTable.RouteTableId)
aws ec2 create-route --route-table-id "$rtb" --destination-cidr-block 0.0.0.0/0 --gateway-id "$igw" >/dev/null
for s in "$sa" "$sb" "$sc"; do aws ec2 associate-route-table --route-table-id "$rtb" --subnet-id "$s" >/dev/null; done
web=$(aws ec2 create-security-group --group-name "$APP-web" --description web --vpc-id "$vpc" --query GroupId)
aws ec2 authorize-security-group-ingress --group-id "$web" --protocol tcp --port 80 --cidr 0.0.0.0/0 >/dev/null
ami=ami-12c6146b
i1=$(aws ec2 run-instances --image-id $ami --instance-type t2.micro --subnet-id "$sa" --security-group-ids "$web" \
  --associate-public-ip-address --metadata-options HttpTokens=required \
  --tag-specifications "$(printf "$tag" instance)" --query 'Instances[0].InstanceId')
aws ec2 wait instance-running --instance-ids "$i1"

# 2. eip
e1=$(aws ec2 allocate-address --domain vpc --query AllocationId)
a1=$(aws ec2 associate-address --allocation-id "$e1" --instance-id "$i1" --query AssociationId)

# 3. vertical: stop, change type, start
aws ec2 stop-instances --instance-ids "$i1" >/dev/null
aws ec2 wait instance-stopped --instance-ids "$i1"
aws ec2 modify-instance-attribute --instance-id "$i1" --instance-type Value=m5.large >/dev/null
aws ec2 start-instances --instance-ids "$i1" >/dev/null
aws ec2 wait instance-running --instance-ids "$i1"

# 4. horizontal 3: two more, each with its own EIP once it runs
read -r i2 i3 <<<"$(aws ec2 run-instances --image-id $ami --instance-type m5.large --count 2 --subnet-id "$sb" \
  --security-group-ids "$web" --associate-public-ip-address --metadata-options HttpTokens=required \
  --tag-specifications "$(printf "$tag" instance)" --query 'Instances[].InstanceId')"
aws ec2 wait instance-running --instance-ids "$i2" "$i3"
e2=$(aws ec2 allocate-address --domain vpc --query AllocationId)
a2=$(aws ec2 associate-address --allocation-id "$e2" --instance-id "$i2" --query AssociationId)
e3=$(aws ec2 allocate-address --domain vpc --query AllocationId)
a3=$(aws ec2 associate-address --allocation-id "$e3" --instance-id "$i3" --query AssociationId)

# 5. dns: a zone; the EIPs go (a VPC address is disassociated before it is
# released), and an A record of the public IPs the instances get back
zone=$(aws route53 create-hosted-zone --name "$APP.example.com" --caller-reference "$APP-$$" --query HostedZone.Id)
for a in "$a1" "$a2" "$a3"; do aws ec2 disassociate-address --association-id "$a" >/dev/null; done
for e in "$e1" "$e2" "$e3"; do aws ec2 release-address --allocation-id "$e" >/dev/null; done
ips=$(aws ec2 describe-instances --instance-ids "$i1" "$i2" "$i3" --query 'Reservations[].Instances[].PublicIpAddress')
rrs=$(for ip in $ips; do printf '{"Value":"%s"},' "$ip"; done)
change=$(aws route53 change-resource-record-sets --hosted-zone-id "$zone" --query ChangeInfo.Id --change-batch \
  "{\"Changes\":[{\"Action\":\"UPSERT\",\"ResourceRecordSet\":{\"Name\":\"api.$APP.example.com\",\"Type\":\"A\",\"TTL\":300,\"ResourceRecords\":[${rrs%,}]}}]}")
aws route53 wait resource-record-sets-changed --id "$change"

# 6. alb: load balancer and target group, private instances behind it,
# the record an alias, the public instances gone
albsg=$(aws ec2 create-security-group --group-name "$APP-alb" --description alb --vpc-id "$vpc" --query GroupId)
aws ec2 authorize-security-group-ingress --group-id "$albsg" --protocol tcp --port 80 --cidr 0.0.0.0/0 >/dev/null
priv=$(aws ec2 create-security-group --group-name "$APP-private" --description private --vpc-id "$vpc" --query GroupId)
aws ec2 authorize-security-group-ingress --group-id "$priv" --protocol tcp --port 80 --source-group "$albsg" >/dev/null
# the same health check and drain as wtt's (AWS's defaults are a check
# every 30 s, healthy after 5, and a 300 s drain)
tg=$(aws elbv2 create-target-group --name "$APP-tg" --protocol HTTP --port 80 --vpc-id "$vpc" --health-check-path /healthz \
  --health-check-interval-seconds 10 --healthy-threshold-count 2 --unhealthy-threshold-count 2 \
  --query 'TargetGroups[0].TargetGroupArn')
aws elbv2 modify-target-group-attributes --target-group-arn "$tg" --attributes Key=deregistration_delay.timeout_seconds,Value=30 >/dev/null
read -r lb lbdns lbzone <<<"$(aws elbv2 create-load-balancer --name "$APP-alb" --subnets "$sa" "$sb" --security-groups "$albsg" \
  --query 'LoadBalancers[0].[LoadBalancerArn,DNSName,CanonicalHostedZoneId]')"
aws elbv2 create-listener --load-balancer-arn "$lb" --protocol HTTP --port 80 --default-actions Type=forward,TargetGroupArn="$tg" >/dev/null
read -r p1 p2 p3 <<<"$(aws ec2 run-instances --image-id $ami --instance-type m5.large --count 3 --subnet-id "$sa" \
  --security-group-ids "$priv" --metadata-options HttpTokens=required \
  --tag-specifications "$(printf "$tag" instance)" --query 'Instances[].InstanceId')"
aws ec2 wait instance-running --instance-ids "$p1" "$p2" "$p3"
aws elbv2 register-targets --target-group-arn "$tg" --targets Id="$p1" Id="$p2" Id="$p3" >/dev/null
aws elbv2 wait target-in-service --target-group-arn "$tg" --targets Id="$p1" Id="$p2" Id="$p3"
change=$(aws route53 change-resource-record-sets --hosted-zone-id "$zone" --query ChangeInfo.Id --change-batch \
  "{\"Changes\":[{\"Action\":\"DELETE\",\"ResourceRecordSet\":{\"Name\":\"api.$APP.example.com\",\"Type\":\"A\",\"TTL\":300,\"ResourceRecords\":[${rrs%,}]}},{\"Action\":\"CREATE\",\"ResourceRecordSet\":{\"Name\":\"api.$APP.example.com\",\"Type\":\"A\",\"AliasTarget\":{\"HostedZoneId\":\"$lbzone\",\"DNSName\":\"$lbdns\",\"EvaluateTargetHealth\":true}}}]}")
aws route53 wait resource-record-sets-changed --id "$change"
aws ec2 terminate-instances --instance-ids "$i1" "$i2" "$i3" >/dev/null

# 7. asg: a launch template and a group in the target group; a
# target-tracking policy; once the group's instances are healthy targets,
# the standalone instances drained and gone
aws ec2 create-launch-template --launch-template-name "$APP-lt" --launch-template-data \
  "{\"ImageId\":\"$ami\",\"InstanceType\":\"m5.large\",\"SecurityGroupIds\":[\"$priv\"],\"MetadataOptions\":{\"HttpTokens\":\"required\"}}" >/dev/null
aws autoscaling create-auto-scaling-group --auto-scaling-group-name "$APP-asg" --launch-template LaunchTemplateName="$APP-lt" \
  --min-size 3 --max-size 6 --desired-capacity 3 --vpc-zone-identifier "$sa,$sb" --target-group-arns "$tg" \
  --health-check-type ELB --health-check-grace-period 60 >/dev/null
aws autoscaling put-scaling-policy --auto-scaling-group-name "$APP-asg" --policy-name cpu --policy-type TargetTrackingScaling \
  --target-tracking-configuration '{"PredefinedMetricSpecification":{"PredefinedMetricType":"ASGAverageCPUUtilization"},"TargetValue":50}' >/dev/null
aws elbv2 wait target-in-service --target-group-arn "$tg"
aws elbv2 deregister-targets --target-group-arn "$tg" --targets Id="$p1" Id="$p2" Id="$p3" >/dev/null
aws elbv2 wait target-deregistered --target-group-arn "$tg" --targets Id="$p1" Id="$p2" Id="$p3"
aws ec2 terminate-instances --instance-ids "$p1" "$p2" "$p3" >/dev/null

# 8. multi-az: the group and the load balancer over three AZs
aws autoscaling update-auto-scaling-group --auto-scaling-group-name "$APP-asg" --vpc-zone-identifier "$sa,$sb,$sc" >/dev/null
aws elbv2 set-subnets --load-balancer-arn "$lb" --subnets "$sa" "$sb" "$sc" >/dev/null

# 9. reserved: three m5.large for a year
offering=$(aws ec2 describe-reserved-instances-offerings --instance-type m5.large --offering-class standard \
  --offering-type "No Upfront" --product-description Linux/UNIX --instance-tenancy default --no-include-marketplace \
  --max-duration 31536000 --min-duration 31536000 --query 'ReservedInstancesOfferings[0].ReservedInstancesOfferingId')
aws ec2 purchase-reserved-instances-offering --reserved-instances-offering-id "$offering" --instance-count 3 >/dev/null
