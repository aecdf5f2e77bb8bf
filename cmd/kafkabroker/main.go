// Command kafkabroker runs a small Kafka-protocol broker (franz-go's kfake) for demos and local development: by
// default one broker on 127.0.0.1:9092, in memory, until interrupted.
//
//	go run ./cmd/kafkabroker -topics w1:4              # what `make kafka` runs
//	go run ./cmd/kafkabroker -brokers 3 -data /tmp/kfk # 127.0.0.1:9092-9094, state kept across restarts
//
// It speaks the Kafka wire protocol to any client (kafka-go, franz-go, kcat, the Java client): produce and fetch
// with every codec, consumer groups, transactions, offsets for times. It is not a production broker: one
// process, no replication, no real durability guarantees.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "kafkabroker:", err)
		os.Exit(1)
	}
}

// run starts the cluster described by args, logs to logw, sends the listen addresses to ready (if not nil) and
// blocks until ctx ends.
func run(ctx context.Context, args []string, logw io.Writer, ready chan<- []string) error {
	fs := flag.NewFlagSet("kafkabroker", flag.ContinueOnError)
	fs.SetOutput(logw)
	host := fs.String("host", "127.0.0.1", "address to listen on and advertise")
	port := fs.Int("port", 9092, "port of the first broker; the others follow (0: random ports)")
	brokers := fs.Int("brokers", 1, "number of brokers")
	dataDir := fs.String("data", "", "directory that keeps topics, records and group offsets across restarts (default: in memory)")
	topics := fs.String("topics", "", "topics to create at start: name[:partitions],... (partitions default to -partitions)")
	partitions := fs.Int("partitions", 4, "partitions of topics created without a count, and of auto-created topics")
	autoCreate := fs.Bool("auto-create", false, "create topics on first use, like auto.create.topics.enable")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: lv}))
	if *brokers < 1 {
		return errors.New("-brokers must be at least 1")
	}
	if *partitions < 1 {
		return errors.New("-partitions must be at least 1")
	}

	ports := make([]int, *brokers)
	for i := range ports {
		if *port != 0 {
			ports[i] = *port + i
		}
	}
	opts := []kfake.Opt{
		kfake.Ports(ports...),
		kfake.DefaultNumPartitions(*partitions),
		kfake.WithLogger(kfakeLogger{log}),
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			_, p, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort(*host, p))
		}),
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	if *autoCreate {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	seeds, err := parseTopics(*topics, int32(*partitions))
	if err != nil {
		return err
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	defer c.Close()
	for _, t := range seeds {
		if c.TopicInfo(t.name) != nil {
			log.Info("topic exists", "topic", t.name, "partitions", len(c.PartitionInfos(t.name)))
			continue
		}
		if err := c.CreateTopic(t.name, t.partitions, nil); err != nil {
			return fmt.Errorf("create topic %s: %w", t.name, err)
		}
		log.Info("created topic", "topic", t.name, "partitions", t.partitions)
	}
	addrs := c.ListenAddrs()
	log.Info("kafka broker listening", "brokers", strings.Join(addrs, ","), "data", *dataDir)
	if ready != nil {
		ready <- addrs
	}
	<-ctx.Done()
	log.Info("shutting down")
	return nil
}

type seedTopic struct {
	name       string
	partitions int32
}

func parseTopics(s string, def int32) ([]seedTopic, error) {
	var out []seedTopic
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		name, n, ok := strings.Cut(f, ":")
		t := seedTopic{name: name, partitions: def}
		if ok {
			p, err := strconv.ParseInt(n, 10, 32)
			if err != nil || p < 1 {
				return nil, fmt.Errorf("-topics: bad partition count in %q", f)
			}
			t.partitions = int32(p)
		}
		if name == "" {
			return nil, fmt.Errorf("-topics: empty topic name in %q", f)
		}
		out = append(out, t)
	}
	return out, nil
}

// kfakeLogger sends kfake's logs to slog.
type kfakeLogger struct{ l *slog.Logger }

func (k kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	lv := slog.LevelDebug
	switch level {
	case kfake.LogLevelError:
		lv = slog.LevelError
	case kfake.LogLevelWarn:
		lv = slog.LevelWarn
	}
	if !k.l.Enabled(context.Background(), lv) {
		return
	}
	k.l.Log(context.Background(), lv, "kfake: "+fmt.Sprintf(format, args...))
}
