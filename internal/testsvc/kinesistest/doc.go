// Package kinesistest starts kinesalite, a Kinesis emulator on Node.js, for tests: a real Kinesis wire-protocol
// peer on a free 127.0.0.1 port, as a child process of the test binary, killed when the test ends.
//
// kinesalite is installed by `make test-deps` under $KAPPA_TOOLS/kinesalite (the Makefile exports KAPPA_TOOLS as
// <repo>/.tools; without it the repository's .tools is found from the working directory). When it or node is
// missing, Start skips the test with a message naming `make test-deps`, unless KAPPA_REQUIRE_SERVICES=1 (set by
// `make test`), in which case the test fails.
//
// The emulator runs with kinesalite.js (embedded here, also used by `make kinesis`), which binds to loopback,
// makes stream changes take effect at once, and adds what real Kinesis has and kinesalite lacks: per-shard rate
// limits (throttled GetRecords calls, partially failed PutRecords) and a clock a test can advance to expire shard
// iterators. See Server.SetLimits and Server.AdvanceClock.
//
//	srv := kinesistest.Start(t)
//	client := srv.Client()
//	srv.CreateStream(t, "events", 2)
package kinesistest
