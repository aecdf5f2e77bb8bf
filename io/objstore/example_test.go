package objstore_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/kappaflow/kappa/io/objstore"
)

// Open maps a URL to a store and a key prefix; Glob lists matching objects and Partitions reads their Hive-style
// folders. The same code runs against s3:// URLs.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "objstore-example")
	defer os.RemoveAll(dir)

	store, prefix, err := objstore.Open(ctx, dir+"/events/", objstore.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, k := range []string{"dt=2016-09-21/hour=18/a.parquet", "dt=2016-09-21/hour=19/a.parquet", "dt=2016-09-22/hour=00/a.parquet"} {
		// Put is atomic: the object appears complete or not at all.
		if err := store.Put(ctx, prefix+k, []byte("data")); err != nil {
			fmt.Println(err)
			return
		}
	}
	for obj, err := range objstore.Glob(ctx, store, prefix+"dt=2016-09-21/**/*.parquet", objstore.ListOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(strings.TrimPrefix(store.URL(obj.Key), dir), obj.Size, objstore.Partitions(obj.Key))
	}
	// Output:
	// /events/dt=2016-09-21/hour=18/a.parquet 4 [{dt 2016-09-21} {hour 18}]
	// /events/dt=2016-09-21/hour=19/a.parquet 4 [{dt 2016-09-21} {hour 19}]
}
