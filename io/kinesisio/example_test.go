package kinesisio_test

import (
	"fmt"
	"time"

	"github.com/kappaflow/kappa/io/kinesisio"
	"github.com/kappaflow/kappa/pipeline"
)

func ExampleParseURL() {
	u, err := kinesisio.ParseURL("kinesis://events?endpoint=http://127.0.0.1:4567")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(u.Stream, u.Endpoint)
	// Output: events http://127.0.0.1:4567
}

func ExampleJSONEncoder() {
	type click struct {
		User string `json:"user"`
		Page string `json:"page"`
	}
	enc := kinesisio.JSONEncoder(func(c click) string { return c.User })
	key, data, err := enc(click{User: "u1", Page: "/home"})
	fmt.Println(key, string(data), err)
	// Output: u1 {"user":"u1","page":"/home"} <nil>
}

// Read a stream of JSON events from kinesalite (`make kinesis`), send undecodable records to a dead-letter
// collection, and write the events back to another stream.
func ExampleReadWithDeadLetters() {
	type click struct {
		User string    `json:"user"`
		At   time.Time `json:"at"`
	}
	p := pipeline.New()
	s := p.Root()
	clicks, bad := kinesisio.ReadWithDeadLetters(s, kinesisio.ReadConfig[click]{
		Stream:    "kinesis://clicks?endpoint=http://127.0.0.1:4567",
		Start:     kinesisio.Latest,
		EventTime: func(_ kinesisio.Record, c click) time.Time { return c.At },
	})
	kinesisio.Write(s, clicks, kinesisio.WriteConfig[click]{
		Stream:  "kinesis://clicks-copy?endpoint=http://127.0.0.1:4567",
		Encoder: kinesisio.JSONEncoder(func(c click) string { return c.User }),
	})
	_ = bad // e.g. written to a file for inspection
	fmt.Println(p.Err())
	// Output: <nil>
}
