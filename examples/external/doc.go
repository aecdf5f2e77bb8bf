// Package kappa (examples/external) is kappa seen from another module: its tests (package kappa_test) use only kappa's public
// API — io/generate for input, io/foreach for output, kafkaio and parquetio, runners/local — to build the README's
// pipeline and a sessionized pipeline, run them, and check their results against plain Go.
package kappa
