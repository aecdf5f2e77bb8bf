// Package testpb holds the Protobuf messages of the schemareg tests, generated from pageview.proto by protoc and
// protoc-gen-go (the generated file is checked in, so the tests need neither). To regenerate, with protoc on PATH
// (Debian: apt-get install protobuf-compiler), run go generate in this folder.
package testpb

//go:generate go build -o ../../../../.tools/bin/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
//go:generate protoc --plugin=protoc-gen-go=../../../../.tools/bin/protoc-gen-go --go_out=. --go_opt=paths=source_relative pageview.proto
