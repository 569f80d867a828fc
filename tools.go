//go:build tools

// Package tools pins the dependencies the project adopts before every one of
// them is imported by real code, so parallel work shares one go.mod.
package tools
import (
 _ "github.com/spf13/cobra"
 _ "github.com/spf13/viper"
 _ "github.com/aws/aws-sdk-go-v2/aws"
 _ "github.com/aws/aws-sdk-go-v2/config"
 _ "github.com/aws/aws-sdk-go-v2/service/ec2"
 _ "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
 _ "github.com/aws/aws-sdk-go-v2/service/autoscaling"
 _ "github.com/aws/aws-sdk-go-v2/service/route53"
 _ "github.com/aws/aws-sdk-go-v2/service/ssm"
 _ "github.com/aws/aws-sdk-go-v2/service/iam"
 _ "github.com/aws/aws-sdk-go-v2/service/s3"
 _ "github.com/aws/aws-sdk-go-v2/service/sts"
 _ "github.com/aws/aws-sdk-go-v2/service/servicequotas"
 _ "github.com/olekukonko/tablewriter"
 _ "github.com/rogpeppe/go-internal/testscript"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "sigs.k8s.io/yaml"
 _ "golang.org/x/term"
)
