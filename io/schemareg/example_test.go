package schemareg_test

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kappaflow/kappa/internal/testsvc/srtest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/schemareg"
	"github.com/kappaflow/kappa/io/schemareg/internal/testpb"
)

// A producer registers version 1 of a page view's Avro schema and writes a record; a consumer on version 2 (a
// country field with a default) reads it; a record that is not in the wire format fails with its reason.
func Example() {
	reg, err := srtest.New() // a Schema Registry on 127.0.0.1; use the real one's URL in production
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()
	client, err := sr.NewClient(sr.URLs(reg.URL))
	if err != nil {
		fmt.Println(err)
		return
	}

	type ViewV1 struct {
		URL    string `avro:"url"`
		User   string `avro:"user"`
		Millis int64  `avro:"millis"`
	}
	type ViewV2 struct {
		URL     string `avro:"url"`
		User    string `avro:"user"`
		Millis  int64  `avro:"millis"`
		Country string `avro:"country"`
	}
	producer, err := schemareg.NewAvro[ViewV1](client, schemareg.AvroConfig{Schema: viewV1Schema, Topic: "views", Register: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	consumer, err := schemareg.NewAvro[ViewV2](client, schemareg.AvroConfig{Schema: viewV2Schema})
	if err != nil {
		fmt.Println(err)
		return
	}

	m, err := producer.Encode(ViewV1{URL: "/home", User: "ada", Millis: 1474482600000}) // a kafkaio.WriteConfig.Encode
	if err != nil {
		fmt.Println(err)
		return
	}
	id, _, _ := schemareg.ParseHeader(m.Value)
	subject, _ := producer.Subject()
	fmt.Printf("written with schema id %d of subject %s: % x ...\n", id, subject, m.Value[:5])

	v, err := consumer.Decode(m) // a kafkaio.ReadConfig.Decode
	fmt.Printf("%+v %v\n", v, err)

	_, err = consumer.Decode(kafkaio.Message{Value: []byte(`{"url":"/home"}`)})
	fmt.Println(errors.Is(err, schemareg.ErrNotWireFormat), err)
	// Output:
	// written with schema id 1 of subject views-value: 00 00 00 00 01 ...
	// {URL:/home User:ada Millis:1474482600000 Country:unknown} <nil>
	// true schemareg avro: not in the Schema Registry wire format: first byte is 0x7b, want the magic byte 0x00
}

// Protobuf with generated types: the schema registered is printed from the message's file descriptor, and the
// record carries the message's index in it.
func ExampleNewProtobuf() {
	reg, err := srtest.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()
	client, err := sr.NewClient(sr.URLs(reg.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	clicks, err := schemareg.NewProtobuf[*testpb.Click](client, schemareg.ProtobufConfig{Topic: "clicks", Register: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := clicks.AppendEncode(nil, &testpb.Click{Url: "/buy", Status: testpb.Status_STATUS_OK})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("header and message index: % x\n", b[:7])
	c, err := clicks.DecodeBytes(b)
	fmt.Println(c.GetUrl(), c.GetStatus(), err)
	// Output:
	// header and message index: 00 00 00 00 01 02 02
	// /buy STATUS_OK <nil>
}

// A JSON Schema codec validates what it writes.
func ExampleNewJSONSchema() {
	reg, err := srtest.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()
	client, err := sr.NewClient(sr.URLs(reg.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	type View struct {
		URL    string `json:"url"`
		Millis int64  `json:"millis"`
	}
	views, err := schemareg.NewJSONSchema[View](client, schemareg.JSONSchemaConfig{Schema: viewJSONSchema, Topic: "views", Register: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := views.Encode(View{URL: "/home", Millis: 1})
	fmt.Printf("%q %v\n", m.Value[5:], err)
	_, err = views.Encode(View{URL: "", Millis: 1})
	fmt.Println(errors.Is(err, schemareg.ErrUndecodable))
	// Output:
	// "{\"url\":\"/home\",\"millis\":1}" <nil>
	// true
}
