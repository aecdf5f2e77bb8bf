// Package nexmark generates the events of the Nexmark benchmark — people registering, auctions opening and bids
// — exactly as Apache Beam's Java generator does (sdks/java/testing/nexmark: GeneratorConfig, Generator and the
// Person, Auction and Bid generators), and reads them into kappa pipelines.
//
//	cfg := nexmark.DefaultConfig(10_000_000)             // Beam's NexmarkConfiguration defaults
//	src, err := nexmark.NewSource(cfg, nexmark.SourceConfig{Splits: 8})
//	events := nexmark.Read(s, src)                       // pipeline.PCollection[nexmark.Event]
//
// Event i of a configuration is a pure function of the configuration and i (java.util.Random seeded with the
// event id, as in Beam), so a source splits into any number of splits, a restarted job resumes at a position,
// and a plain Go loop over Generator.Event sees the very events a pipeline sees. With Config.Seed 0 and the
// default single generator the events are bit for bit those of Beam's generator with numEventGenerators = 1
// (TestGeneratorMatchesBeam checks them against the Java generator's output).
//
// A Source is bounded (Config.Events > 0) or unbounded, read as fast as possible or rate-limited in wall-clock
// time (SourceConfig.RateLimited), and its watermarks are exact guarantees. The same events can be archived to
// Parquet (WriteParquet, ReadParquet) and published to Kafka (WriteKafka, ReadKafka) so that every path of a
// pipeline sees them. examples/nexmark/README.md lists where this generator departs from Beam's.
package nexmark
