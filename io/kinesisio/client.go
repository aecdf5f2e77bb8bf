package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
)

// ErrNotFound is matched (errors.Is) by the error of a call on a stream or shard that does not exist.
var ErrNotFound = errors.New("kinesis stream or shard not found")

// NotFoundError reports that a stream or a shard does not exist (ResourceNotFoundException). It matches
// ErrNotFound.
type NotFoundError struct {
	// Stream is the stream name.
	Stream string
	// Shard is the shard the failed call was about, or "" for a call on the whole stream (ListShards,
	// PutRecords). Kinesis answers a call on a shard of a missing stream with the same exception, so a Shard does
	// not mean the stream exists.
	Shard string
	// Op is the API operation that failed, e.g. "ListShards".
	Op string
	// Err is the SDK's error.
	Err error
}

// Error names the stream (and shard), the operation and Kinesis's message.
func (e *NotFoundError) Error() string {
	what := fmt.Sprintf("kinesis stream %q", e.Stream)
	if e.Shard != "" {
		what += " shard " + e.Shard
	}
	return fmt.Sprintf("%s not found (%s): %s", what, e.Op, apiMessage(e.Err))
}

// Unwrap returns the SDK's error.
func (e *NotFoundError) Unwrap() error { return e.Err }

// Is matches ErrNotFound.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// apiMessage is "Code: message" for an API error, without the SDK's request id, else err's text.
func apiMessage(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode() + ": " + api.ErrorMessage()
	}
	return err.Error()
}

// errKind classifies a failed call.
type errKind int

const (
	errFatal     errKind = iota // not retried
	errThrottled                // retried with backoff for as long as it lasts
	errTransient                // retried with backoff until Retry.Timeout
	errExpired                  // ExpiredIteratorException: get a new iterator
	errNotFound                 // ResourceNotFoundException
)

var throttleCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"LimitExceededException":                 true,
	"KMSThrottlingException":                 true,
	"ThrottlingException":                    true,
	"Throttling":                             true,
	"RequestLimitExceeded":                   true,
	"TooManyRequestsException":               true,
}

var transientCodes = map[string]bool{
	"InternalFailure":          true,
	"InternalFailureException": true,
	"ServiceUnavailable":       true,
	"InternalServerError":      true,
}

// classify says how to handle err, the error of a call made under ctx (the caller's context, not the per-call
// one: a call that hit its own CallTimeout is transient, a cancelled caller is fatal).
func classify(ctx context.Context, err error) errKind {
	if ctx.Err() != nil {
		return errFatal
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		switch {
		case code == "ExpiredIteratorException":
			return errExpired
		case code == "ResourceNotFoundException":
			return errNotFound
		case throttleCodes[code]:
			return errThrottled
		case transientCodes[code]:
			return errTransient
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errTransient // the call's own timeout
	}
	if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary {
		return errTransient
	}
	return errFatal
}

// backoff is exponential backoff with equal jitter.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else if b.cur < b.max {
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + rand.N(half+1)
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// clientCache builds the Kinesis client of a source or sink once, on first use.
type clientCache struct {
	conn   Connection
	url    URL
	mu     sync.Mutex
	client *kinesis.Client
	// endpoint is the endpoint in use, for messages ("" = AWS default).
	endpoint string
}

func (c *clientCache) get(ctx context.Context) (*kinesis.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		return c.client, nil
	}
	if c.conn.Client != nil {
		c.client = c.conn.Client
		return c.client, nil
	}
	endpoint := firstNonEmpty(c.conn.Endpoint, c.url.Endpoint, os.Getenv(EndpointEnv))
	region := firstNonEmpty(c.conn.Region, c.url.Region)
	var cfg aws.Config
	switch {
	case c.conn.AWSConfig != nil:
		cfg = c.conn.AWSConfig.Copy()
	case endpoint != "" && isLoopback(endpoint):
		cfg = aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("kappa", "kappa", "")}
	default:
		var opts []func(*config.LoadOptions) error
		if region != "" {
			opts = append(opts, config.WithRegion(region))
		}
		var err error
		if cfg, err = config.LoadDefaultConfig(ctx, opts...); err != nil {
			return nil, fmt.Errorf("kinesisio: load AWS config: %w", err)
		}
	}
	if region != "" {
		cfg.Region = region
	}
	c.endpoint = endpoint
	c.client = kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.Retryer = aws.NopRetryer{} // kinesisio retries, with backoff and logs
	})
	return c.client, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func isLoopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// retrier runs the calls of a source or sink that may block (listing shards, writing) with the retry policy:
// throttling is retried for as long as it lasts, transient errors until Retry.Timeout, each retry logged.
type retrier struct {
	r   Retry
	log *slog.Logger // carries the source or sink name
}

// do calls fn, each attempt bounded by Retry.CallTimeout, until it succeeds or fails for good. The error is fn's
// last, or says how long it kept failing.
func (rt retrier) do(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	bo := backoff{min: rt.r.MinBackoff, max: rt.r.MaxBackoff}
	var since time.Time
	for {
		cctx, cancel := context.WithTimeout(ctx, rt.r.CallTimeout)
		err := fn(cctx)
		cancel()
		if err == nil {
			return nil
		}
		kind := classify(ctx, err)
		if kind != errThrottled && kind != errTransient {
			return err
		}
		now := time.Now()
		if kind == errTransient {
			if since.IsZero() {
				since = now
			} else if failing := now.Sub(since); failing > rt.r.Timeout {
				return fmt.Errorf("still failing after %v: %w", failing.Round(time.Millisecond), err)
			}
		}
		d := bo.next()
		msg := "kinesis call failed; retrying"
		if kind == errThrottled {
			msg = "kinesis call throttled; backing off"
		}
		rt.log.Warn(msg, "op", op, "backoff", d, "error", apiMessage(err))
		if serr := sleep(ctx, d); serr != nil {
			return fmt.Errorf("%w (while retrying after: %w)", serr, err)
		}
	}
}

// isNotFound reports a ResourceNotFoundException.
func isNotFound(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "ResourceNotFoundException"
}
