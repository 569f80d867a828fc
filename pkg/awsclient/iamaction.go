package awsclient

// operationAction lists the calls whose IAM action is not named after the
// SDK operation. Everywhere else (EC2, ELB, Auto Scaling, Route 53, SSM,
// IAM, STS, Service Quotas) the operation name is the action name; S3 is
// the exception, authorising several operations by one older action.
var operationAction = map[string]string{
	"s3:HeadBucket":              "s3:ListBucket",
	"s3:ListObjects":             "s3:ListBucket",
	"s3:ListObjectsV2":           "s3:ListBucket",
	"s3:HeadObject":              "s3:GetObject",
	"s3:DeleteObjects":           "s3:DeleteObject",
	"s3:PutPublicAccessBlock":    "s3:PutBucketPublicAccessBlock",
	"s3:GetPublicAccessBlock":    "s3:GetBucketPublicAccessBlock",
	"s3:DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
}

// IAMAction names the IAM action that authorises a recorded call
// ("s3:HeadObject" is allowed by "s3:GetObject"). Calls that already are
// IAM actions come back unchanged.
func IAMAction(call string) string {
	if a, ok := operationAction[call]; ok {
		return a
	}
	return call
}
