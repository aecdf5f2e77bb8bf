package status

import (
	"regexp"
	"strings"
)

// Redacted replaces credentials in text.
const Redacted = "REDACTED"

var (
	// scheme://userinfo@ — userinfo holds access keys and passwords (s3://KEY:SECRET@host/…, kafka://user:pw@…).
	userinfoRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)([^/@\s?#]+)@`)
	// key=value pairs whose key names a secret (query parameters, SASL options, DSNs).
	secretRE = regexp.MustCompile(`(?i)((?:^|[?&;,\s])[A-Za-z0-9_.\-]*(?:secret|password|passwd|pwd|token|sasl|credential|signature|apikey|api_key|api-key|access_key|accesskey|private_key|session)[A-Za-z0-9_.\-]*=)([^&;,\s#]*)`)
	// AWS-style pre-signed URLs and bearer tokens.
	bearerRE = regexp.MustCompile(`(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*`)
)

// Redact returns s with credentials replaced by REDACTED: the user information of URLs
// (s3://KEY:SECRET@host/… → s3://REDACTED@host/…) and the values of parameters whose names mention a secret,
// password, token, SASL, credential, signature, API key, access key or session (…?sasl_password=x →
// …?sasl_password=REDACTED), and bearer tokens. The status page applies it to every name, ID and error it shows.
func Redact(s string) string {
	if !strings.ContainsAny(s, "@=") && !strings.Contains(strings.ToLower(s), "bearer") {
		return s
	}
	s = userinfoRE.ReplaceAllString(s, "${1}"+Redacted+"@")
	s = secretRE.ReplaceAllString(s, "${1}"+Redacted)
	s = bearerRE.ReplaceAllString(s, "${1}"+Redacted)
	return s
}
