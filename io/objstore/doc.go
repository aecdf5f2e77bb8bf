// Package objstore is kappa's small object-store layer: one Store interface over local files and S3 buckets
// (AWS or any S3-compatible server), used by the file connectors (parquetio).
//
// # URLs
//
// Open maps a URL to a Store and a key: "s3://bucket/events/" gives an S3 store for the bucket and the key prefix
// "events/"; "/data/events/", "file:///data/events/" and relative paths give the local store, whose keys are
// absolute paths without the leading slash.
//
// # Operations
//
//   - List yields objects under a key prefix in key order, page by page (an iter.Seq2); Glob filters a listing
//     with a pattern ("events/dt=2016-09-*/hour=1?/*.parquet", "**" for any depth).
//   - Partitions parses Hive-style folders (dt=2016-09-21/hour=18/) into key/value pairs.
//   - Open returns a Reader: an io.ReaderAt with Size. On S3 every ReadAt is one ranged GET; an object is never
//     loaded whole.
//   - Create returns a Writer whose object appears atomically on Close (local: temporary file + rename; S3:
//     PutObject, or a multipart upload completed on Close for objects larger than one part). Put writes small
//     objects; Delete and Rename complete the set; Stat and Exists describe objects.
//
// # Example
//
//	store, prefix, err := objstore.Open(ctx, "s3://archive/events/", objstore.Config{
//		Endpoint: "http://127.0.0.1:9100", UsePathStyle: true, Region: "us-east-1",
//	})
//	if err != nil { ... }
//	for obj, err := range objstore.Glob(ctx, store, prefix+"dt=2016-09-*/**", objstore.ListOptions{}) {
//		if err != nil { ... }
//		fmt.Println(store.URL(obj.Key), obj.Size, objstore.PartitionMap(obj.Key)["dt"])
//	}
//
// S3 settings come from Config; credentials default to the usual AWS chain (environment, shared files, roles).
package objstore
