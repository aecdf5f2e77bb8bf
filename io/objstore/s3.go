package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// MinPartSize is the smallest multipart upload part S3 accepts (except for the last part).
const MinPartSize = 5 << 20

// Config configures access to S3 and S3-compatible servers. The zero value uses the AWS default chain for region
// and credentials (environment, shared config files, SSO, container and instance roles) against AWS itself.
type Config struct {
	// Region is the bucket's region. Default: the region of the AWS chain (AWS_REGION, shared config), else
	// "us-east-1".
	Region string
	// Endpoint overrides the S3 endpoint, e.g. "http://127.0.0.1:9100" for a local server. Default: AWS.
	Endpoint string
	// UsePathStyle addresses buckets as endpoint/bucket/key instead of bucket.endpoint/key; most S3-compatible
	// servers need it. Default false.
	UsePathStyle bool
	// AccessKeyID, SecretAccessKey and SessionToken are static credentials. Default (all empty): the AWS chain.
	AccessKeyID, SecretAccessKey, SessionToken string
	// PartSize is the size of multipart upload parts: a Writer keeps at most one part in memory and uploads
	// objects larger than one part as a multipart upload. Default 16 MiB; at least MinPartSize.
	PartSize int64
	// ReadRetries is how many times a ranged GET is attempted when the connection fails while its body is read
	// (the SDK already retries failed requests). Default 3.
	ReadRetries int
	// Client, when set, is used as is and every field above except PartSize and ReadRetries is ignored.
	Client *s3.Client
}

// Validate reports invalid settings.
func (c Config) Validate() error {
	var errs []error
	if c.PartSize != 0 && c.PartSize < MinPartSize {
		errs = append(errs, fmt.Errorf("objstore: PartSize %d is below the S3 minimum of %d bytes", c.PartSize, MinPartSize))
	}
	if c.ReadRetries < 0 {
		errs = append(errs, fmt.Errorf("objstore: ReadRetries %d is negative", c.ReadRetries))
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		errs = append(errs, errors.New("objstore: AccessKeyID and SecretAccessKey must be set together"))
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("objstore: Endpoint %q is not a URL like http://127.0.0.1:9100", c.Endpoint))
		}
	}
	return errors.Join(errs...)
}

// S3 is a Store over one S3 bucket.
type S3 struct {
	client   *s3.Client
	bucket   string
	partSize int64
	retries  int
}

var _ Store = (*S3)(nil)

// NewS3 returns a store for bucket. It does not contact S3.
func NewS3(ctx context.Context, bucket string, cfg Config) (*S3, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if bucket == "" {
		return nil, errors.New("objstore: empty bucket name")
	}
	s := &S3{client: cfg.Client, bucket: bucket, partSize: cfg.PartSize, retries: cfg.ReadRetries}
	if s.partSize == 0 {
		s.partSize = 16 << 20
	}
	if s.retries == 0 {
		s.retries = 3
	}
	if s.client != nil {
		return s, nil
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("objstore: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	s.client = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.UsePathStyle
		// Ranged GETs carry no whole-object checksum; do not log that for every read.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return s, nil
}

// Client returns the underlying S3 client.
func (s *S3) Client() *s3.Client { return s.client }

// Bucket returns the bucket name.
func (s *S3) Bucket() string { return s.bucket }

// URL returns "s3://bucket/key".
func (s *S3) URL(key string) string { return "s3://" + s.bucket + "/" + key }

// isNotFound reports whether err is S3's answer for a missing key.
func isNotFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NotFound", "NoSuchKey":
			return true
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

func (s *S3) wrap(op, key string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("objstore: %s %s: %w", op, s.URL(key), ErrNotExist)
	}
	return fmt.Errorf("objstore: %s %s: %w", op, s.URL(key), err)
}

// List pages through ListObjectsV2.
func (s *S3) List(ctx context.Context, prefix string, opts ListOptions) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)}
		if opts.PageSize > 0 {
			in.MaxKeys = aws.Int32(int32(min(opts.PageSize, 1000)))
		}
		if opts.StartAfter != "" {
			in.StartAfter = aws.String(opts.StartAfter)
		}
		p := s3.NewListObjectsV2Paginator(s.client, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				yield(Object{}, fmt.Errorf("objstore: list %s: %w", s.URL(prefix), err))
				return
			}
			for _, o := range page.Contents {
				obj := Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: aws.ToString(o.ETag)}
				if o.LastModified != nil {
					obj.ModTime = *o.LastModified
				}
				if !yield(obj, nil) {
					return
				}
			}
		}
	}
}

// Stat runs HeadObject.
func (s *S3) Stat(ctx context.Context, key string) (Object, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return Object{}, s.wrap("stat", key, err)
	}
	obj := Object{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag)}
	if out.LastModified != nil {
		obj.ModTime = *out.LastModified
	}
	return obj, nil
}

// Open stats the object; each ReadAt is then one ranged GET, conditional on the ETag seen here so that an object
// replaced while it is read fails instead of mixing two versions.
func (s *S3) Open(ctx context.Context, key string) (Reader, error) {
	obj, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	return &s3Reader{s: s, ctx: ctx, key: key, size: obj.Size, etag: obj.ETag}, nil
}

func (s *S3) openObject(ctx context.Context, obj Object) (Reader, error) {
	return &s3Reader{s: s, ctx: ctx, key: obj.Key, size: obj.Size, etag: obj.ETag}, nil
}

func (r *s3Reader) withContext(ctx context.Context) Reader {
	c := *r
	c.ctx = ctx
	return &c
}

type s3Reader struct {
	s    *S3
	ctx  context.Context
	key  string
	size int64
	etag string
}

func (r *s3Reader) Size() int64  { return r.size }
func (r *s3Reader) Close() error { return nil }

func (r *s3Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("objstore: read %s: negative offset %d", r.s.URL(r.key), off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	want := min(int64(len(p)), r.size-off)
	in := &s3.GetObjectInput{
		Bucket: aws.String(r.s.bucket),
		Key:    aws.String(r.key),
		Range:  aws.String(fmt.Sprintf("bytes=%d-%d", off, off+want-1)),
	}
	if r.etag != "" {
		in.IfMatch = aws.String(r.etag)
	}
	var lastErr error
	for attempt := 0; attempt < r.s.retries; attempt++ {
		if attempt > 0 {
			select {
			case <-r.ctx.Done():
				return 0, fmt.Errorf("objstore: read %s at %d: %w", r.s.URL(r.key), off, r.ctx.Err())
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
		}
		out, err := r.s.client.GetObject(r.ctx, in)
		if err != nil {
			// The SDK has retried what is retryable; a 4xx (e.g. 412 when the object changed) is final.
			return 0, r.s.wrap(fmt.Sprintf("read at %d from", off), r.key, err)
		}
		n, err := io.ReadFull(out.Body, p[:want])
		out.Body.Close()
		if err == nil {
			if want < int64(len(p)) {
				return n, io.EOF
			}
			return n, nil
		}
		lastErr = err
	}
	return 0, fmt.Errorf("objstore: read %d bytes at %d from %s: %w", want, off, r.s.URL(r.key), lastErr)
}

// Create returns a writer that buffers one part in memory: objects up to PartSize are sent with one PutObject on
// Close, larger ones as a multipart upload completed on Close (aborted by Abort or a failed Close).
func (s *S3) Create(ctx context.Context, key string) (Writer, error) {
	if key == "" || strings.HasSuffix(key, "/") {
		return nil, fmt.Errorf("objstore: create %s: a key cannot be empty or end with /", s.URL(key))
	}
	return &s3Writer{s: s, ctx: ctx, key: key}, nil
}

type s3Writer struct {
	s        *S3
	ctx      context.Context
	key      string
	buf      bytes.Buffer
	uploadID string
	parts    []types.CompletedPart
	done     bool
}

func (w *s3Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("objstore: write %s: writer closed", w.s.URL(w.key))
	}
	n := len(p)
	for len(p) > 0 {
		room := int(w.s.partSize) - w.buf.Len()
		k := min(room, len(p))
		w.buf.Write(p[:k])
		p = p[k:]
		if int64(w.buf.Len()) >= w.s.partSize {
			if err := w.uploadPart(); err != nil {
				w.Abort()
				return n - len(p), err
			}
		}
	}
	return n, nil
}

func (w *s3Writer) uploadPart() error {
	if w.uploadID == "" {
		out, err := w.s.client.CreateMultipartUpload(w.ctx, &s3.CreateMultipartUploadInput{
			Bucket: aws.String(w.s.bucket), Key: aws.String(w.key)})
		if err != nil {
			return w.s.wrap("start multipart upload of", w.key, err)
		}
		w.uploadID = aws.ToString(out.UploadId)
	}
	num := int32(len(w.parts) + 1)
	out, err := w.s.client.UploadPart(w.ctx, &s3.UploadPartInput{
		Bucket: aws.String(w.s.bucket), Key: aws.String(w.key), UploadId: aws.String(w.uploadID),
		PartNumber: aws.Int32(num), Body: bytes.NewReader(w.buf.Bytes()),
	})
	if err != nil {
		return w.s.wrap(fmt.Sprintf("upload part %d of", num), w.key, err)
	}
	w.parts = append(w.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num),
		ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC32C: out.ChecksumCRC32C, ChecksumCRC64NVME: out.ChecksumCRC64NVME,
		ChecksumSHA1: out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256})
	w.buf.Reset()
	return nil
}

func (w *s3Writer) Close() error {
	if w.done {
		return fmt.Errorf("objstore: close %s: writer already closed", w.s.URL(w.key))
	}
	if w.uploadID == "" {
		w.done = true
		_, err := w.s.client.PutObject(w.ctx, &s3.PutObjectInput{
			Bucket: aws.String(w.s.bucket), Key: aws.String(w.key), Body: bytes.NewReader(w.buf.Bytes()),
			ContentLength: aws.Int64(int64(w.buf.Len())),
		})
		w.buf = bytes.Buffer{}
		if err != nil {
			return w.s.wrap("put", w.key, err)
		}
		return nil
	}
	if w.buf.Len() > 0 {
		if err := w.uploadPart(); err != nil {
			w.Abort()
			return err
		}
	}
	w.done = true
	_, err := w.s.client.CompleteMultipartUpload(w.ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(w.s.bucket), Key: aws.String(w.key), UploadId: aws.String(w.uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: w.parts},
	})
	if err != nil {
		w.abortUpload()
		return w.s.wrap("complete multipart upload of", w.key, err)
	}
	return nil
}

func (w *s3Writer) Abort() error {
	if w.done && w.uploadID == "" {
		return nil
	}
	w.done = true
	w.buf = bytes.Buffer{}
	return w.abortUpload()
}

func (w *s3Writer) abortUpload() error {
	if w.uploadID == "" {
		return nil
	}
	id := w.uploadID
	w.uploadID = ""
	// Use a fresh context: aborting must work after the caller's context was cancelled.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 30*time.Second)
	defer cancel()
	if _, err := w.s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(w.s.bucket), Key: aws.String(w.key), UploadId: aws.String(id)}); err != nil {
		return w.s.wrap("abort multipart upload of", w.key, err)
	}
	return nil
}

// Put writes data with one PutObject.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		return s.wrap("put", key, err)
	}
	return nil
}

// Delete runs DeleteObject.
func (s *S3) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil && !isNotFound(err) {
		return s.wrap("delete", key, err)
	}
	return nil
}

// Rename copies from to to (server side, objects up to 5 GB) and deletes from.
func (s *S3) Rename(ctx context.Context, from, to string) error {
	_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(to), CopySource: aws.String(copySource(s.bucket, from)),
	})
	if err != nil {
		if isNotFound(err) {
			return fmt.Errorf("objstore: rename %s to %s: %w", s.URL(from), s.URL(to), ErrNotExist)
		}
		return fmt.Errorf("objstore: rename %s to %s: copy: %w", s.URL(from), s.URL(to), err)
	}
	if err := s.Delete(ctx, from); err != nil {
		return fmt.Errorf("objstore: rename %s to %s: %w", s.URL(from), s.URL(to), err)
	}
	return nil
}

// copySource formats CopyObject's "bucket/key" source, URL-encoding each path segment.
func copySource(bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return bucket + "/" + strings.Join(segs, "/")
}
