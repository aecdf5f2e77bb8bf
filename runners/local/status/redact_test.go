package status_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/runners/local/status"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"kafka://127.0.0.1:9092/events", "kafka://127.0.0.1:9092/events"},
		{"s3://AKIAXXXX:wJalrXUtnFEMI@minio:9000/bucket/views/", "s3://REDACTED@minio:9000/bucket/views/"},
		{"s3://bucket/views/f.parquet#rg=2", "s3://bucket/views/f.parquet#rg=2"},
		{"kafka://alice:pw@b1:9092,b2:9092/t", "kafka://REDACTED@b1:9092,b2:9092/t"},
		{"kafka://b:9092/t?sasl_mechanism=PLAIN&sasl_password=hunter2&x=1", "kafka://b:9092/t?sasl_mechanism=REDACTED&sasl_password=REDACTED&x=1"},
		{"https://h/o?X-Amz-Signature=abcd&X-Amz-Credential=AK%2F2024&X-Amz-Date=1", "https://h/o?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&X-Amz-Date=1"},
		{"postgres://u:p@db/x?sslmode=disable", "postgres://REDACTED@db/x?sslmode=disable"},
		{"open: token=abc123 failed", "open: token=REDACTED failed"},
		{"Authorization: Bearer eyJhbGciOi.x.y", "Authorization: Bearer REDACTED"},
		{"user@example.com sent 3 records", "user@example.com sent 3 records"},
		{"read Read(kafka://u:s@h:1/t): api_key=k1, session_token=s1", "read Read(kafka://REDACTED@h:1/t): api_key=REDACTED, session_token=REDACTED"},
		{"", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			require.Equal(t, tc.want, status.Redact(tc.in))
		})
	}
}
