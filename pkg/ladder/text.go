package ladder

import (
	"strings"

	"github.com/whatsthetime/wtt/pkg/userdata"
)

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func userdataB64(script string) string { return userdata.Base64(script) }
