package nexmark

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Proportions of people, auctions and bids among the events, as in Beam's GeneratorConfig: of every 50
// consecutive event ids, 1 is a new person, 3 are new auctions and 46 are bids.
const (
	PersonProportion      = 1
	AuctionProportion     = 3
	BidProportion         = 46
	ProportionDenominator = PersonProportion + AuctionProportion + BidProportion
)

// First ids, as in Beam's GeneratorConfig: ids start there so that queries find matches even on small inputs.
const (
	FirstPersonID   = 1000
	FirstAuctionID  = 1000
	FirstCategoryID = 10
)

// DefaultBaseTime is the event time of the first event, 2015-07-15T00:00:00Z, Beam's NexmarkUtils.BASE_TIME.
var DefaultBaseTime = time.Date(2015, 7, 15, 0, 0, 0, 0, time.UTC)

// RateShape is the shape of the event rate over time when FirstEventRate and NextEventRate differ.
type RateShape uint8

const (
	// Sine moves the rate between the two rates along a cosine in 10 steps per RatePeriod (Beam's default).
	Sine RateShape = iota
	// Square alternates between the two rates every half RatePeriod.
	Square
)

// String returns "sine" or "square".
func (r RateShape) String() string {
	if r == Square {
		return "square"
	}
	return "sine"
}

// Config holds the generator's parameters: the fields of Beam's NexmarkConfiguration that shape the events.
// The zero value of every field means Beam's default, stated on the field; negative values are invalid.
type Config struct {
	// Events is the number of events; 0 generates an unbounded stream.
	Events int64
	// Seed varies the random content of the events (names, prices, which person bids on which auction…) while
	// ids, proportions and times stay those of the configuration. Seed 0 gives exactly the events of Beam's
	// generator, which seeds java.util.Random with each event's id.
	Seed int64
	// FirstEventRate is the event rate, in events per RateUnit, that spaces event times (default 10000). With
	// NextEventRate different, the rate varies between the two along RateShape.
	FirstEventRate float64
	// NextEventRate is the second rate of a varying rate (default FirstEventRate: a constant rate).
	NextEventRate float64
	// RateUnit is the unit of the rates (default time.Second).
	RateUnit time.Duration
	// RateShape is the shape of a varying rate (default Sine).
	RateShape RateShape
	// RatePeriod is the period of a varying rate (default 600 s).
	RatePeriod time.Duration
	// NumEventGenerators is the number of Beam generators the events are split into (default 1; Beam's default
	// is 100, Flink's is the job's parallelism). Each has its own timeline and id space, and the event rate is
	// shared between them; kappa interleaves their events by time. With more than one, the events depend on
	// Events too (each generator owns a contiguous range of Events/NumEventGenerators ids), as in Beam.
	NumEventGenerators int
	// AvgPersonByteSize, AvgAuctionByteSize and AvgBidByteSize are the average sizes the Extra field pads each
	// kind of event to (defaults 200, 500 and 100 bytes).
	AvgPersonByteSize, AvgAuctionByteSize, AvgBidByteSize int
	// HotAuctionRatio: a bid is for the hot auction of the moment with probability 1 − 1/HotAuctionRatio
	// (default 2).
	HotAuctionRatio int
	// HotSellersRatio: an auction is by the hot seller of the moment with probability 1 − 1/HotSellersRatio
	// (default 4).
	HotSellersRatio int
	// HotBiddersRatio: a bid is by the hot bidder of the moment with probability 1 − 1/HotBiddersRatio
	// (default 4).
	HotBiddersRatio int
	// NumInFlightAuctions is the average number of auctions open at any time, per generator (default 100); it
	// sets auction lengths and which auctions bids go to.
	NumInFlightAuctions int
	// NumActivePeople is the number of recent people that sell and bid (default 1000).
	NumActivePeople int
	// OutOfOrderGroupSize shuffles every group of this many consecutive events of a generator (default 1: in
	// order), within the time span of the group.
	OutOfOrderGroupSize int64
	// BaseTime is the event time of the first event (default DefaultBaseTime).
	BaseTime time.Time
}

// DefaultConfig returns Beam's defaults for n events (n = 0: unbounded), with NumEventGenerators 1.
func DefaultConfig(n int64) Config {
	c := Config{Events: n}
	c.fill()
	return c
}

// fill replaces zero fields by their defaults.
func (c *Config) fill() {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	if c.FirstEventRate == 0 {
		c.FirstEventRate = 10000
	}
	if c.NextEventRate == 0 {
		c.NextEventRate = c.FirstEventRate
	}
	if c.RateUnit == 0 {
		c.RateUnit = time.Second
	}
	if c.RatePeriod == 0 {
		c.RatePeriod = 600 * time.Second
	}
	def(&c.NumEventGenerators, 1)
	def(&c.AvgPersonByteSize, 200)
	def(&c.AvgAuctionByteSize, 500)
	def(&c.AvgBidByteSize, 100)
	def(&c.HotAuctionRatio, 2)
	def(&c.HotSellersRatio, 4)
	def(&c.HotBiddersRatio, 4)
	def(&c.NumInFlightAuctions, 100)
	def(&c.NumActivePeople, 1000)
	if c.OutOfOrderGroupSize == 0 {
		c.OutOfOrderGroupSize = 1
	}
	if c.BaseTime.IsZero() {
		c.BaseTime = DefaultBaseTime
	}
}

// ConfigError is an invalid generator parameter: Field names it as in Config.
type ConfigError struct {
	Field string
	Value any
	Want  string
}

// Error formats the error.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("nexmark: %s = %v: want %s", e.Field, e.Value, e.Want)
}

// Validate reports the first invalid parameter as a *ConfigError (after defaults are applied).
func (c Config) Validate() error {
	c.fill()
	bad := func(field string, v any, want string) error { return &ConfigError{Field: field, Value: v, Want: want} }
	switch {
	case c.Events < 0:
		return bad("Events", c.Events, ">= 0 (0: unbounded)")
	case !(c.FirstEventRate > 0) || math.IsInf(c.FirstEventRate, 0):
		return bad("FirstEventRate", c.FirstEventRate, "a positive rate")
	case !(c.NextEventRate > 0) || math.IsInf(c.NextEventRate, 0):
		return bad("NextEventRate", c.NextEventRate, "a positive rate")
	case c.RateUnit < 0:
		return bad("RateUnit", c.RateUnit, "a positive duration")
	case c.RateShape > Square:
		return bad("RateShape", c.RateShape, "Sine or Square")
	case c.RatePeriod < time.Second:
		return bad("RatePeriod", c.RatePeriod, "at least 1s")
	case c.NumEventGenerators < 1:
		return bad("NumEventGenerators", c.NumEventGenerators, ">= 1")
	case c.Events > 0 && int64(c.NumEventGenerators) > c.Events:
		return bad("NumEventGenerators", c.NumEventGenerators, fmt.Sprintf("at most Events (%d)", c.Events))
	case c.AvgPersonByteSize < 0:
		return bad("AvgPersonByteSize", c.AvgPersonByteSize, ">= 0")
	case c.AvgAuctionByteSize < 0:
		return bad("AvgAuctionByteSize", c.AvgAuctionByteSize, ">= 0")
	case c.AvgBidByteSize < 0:
		return bad("AvgBidByteSize", c.AvgBidByteSize, ">= 0")
	case c.HotAuctionRatio < 1:
		return bad("HotAuctionRatio", c.HotAuctionRatio, ">= 1")
	case c.HotSellersRatio < 1:
		return bad("HotSellersRatio", c.HotSellersRatio, ">= 1")
	case c.HotBiddersRatio < 1:
		return bad("HotBiddersRatio", c.HotBiddersRatio, ">= 1")
	case c.NumInFlightAuctions < 1:
		return bad("NumInFlightAuctions", c.NumInFlightAuctions, ">= 1")
	case c.NumActivePeople < 1:
		return bad("NumActivePeople", c.NumActivePeople, ">= 1")
	case c.OutOfOrderGroupSize < 1:
		return bad("OutOfOrderGroupSize", c.OutOfOrderGroupSize, ">= 1")
	}
	g, err := newTimeline(c)
	if err != nil {
		return err
	}
	if g.delay[0] <= 0 {
		return bad("FirstEventRate", c.FirstEventRate, "a rate whose inter-event delay is positive")
	}
	return nil
}

// errNoTimeline is returned for rates whose steps hold no events.
var errNoTimeline = errors.New("nexmark: the rate steps hold no events: raise RatePeriod or the rates")

// timeline maps event numbers of one generator to event times (Beam's timestampAndInterEventDelayUsForEvent).
type timeline struct {
	base           int64     // ms
	delay          []float64 // µs between events of one generator, per step
	stepUs         float64   // length of a step
	eventsPerEpoch int64
	epochMs        int64
	stepEvents     []int64
	stepOffsetMs   []int64
}

func newTimeline(c Config) (timeline, error) {
	unitUs := float64(c.RateUnit.Microseconds())
	if c.RateUnit < time.Microsecond {
		unitUs = float64(c.RateUnit) / 1e3
	}
	g := float64(c.NumEventGenerators)
	t := timeline{base: c.BaseTime.UnixMilli()}
	if c.FirstEventRate == c.NextEventRate {
		t.delay = []float64{unitUs / c.FirstEventRate * g}
		return t, nil
	}
	switch c.RateShape {
	case Square:
		t.delay = []float64{unitUs / c.FirstEventRate * g, unitUs / c.NextEventRate * g}
	default:
		const n = 10
		mid := (c.FirstEventRate + c.NextEventRate) / 2
		amp := (c.FirstEventRate - c.NextEventRate) / 2
		for i := range n {
			rate := math.Round(mid + amp*math.Cos(2*math.Pi*float64(i)/n))
			t.delay = append(t.delay, unitUs/rate*g)
		}
	}
	steps := int64(len(t.delay))
	stepSec := (int64(c.RatePeriod/time.Second) + steps - 1) / steps
	t.stepUs = float64(stepSec) * 1e6
	for _, d := range t.delay {
		n := int64(t.stepUs / d)
		t.stepEvents = append(t.stepEvents, n)
		t.stepOffsetMs = append(t.stepOffsetMs, t.epochMs)
		t.eventsPerEpoch += n
		t.epochMs += int64(float64(n)*d) / 1000
	}
	if t.eventsPerEpoch == 0 {
		return t, errNoTimeline
	}
	return t, nil
}

// at returns the event time of event number n of a generator, in ms.
func (t *timeline) at(n int64) int64 {
	if len(t.delay) == 1 {
		return t.base + int64(float64(n)*t.delay[0])/1000
	}
	epoch, k := n/t.eventsPerEpoch, n%t.eventsPerEpoch
	for i, cnt := range t.stepEvents {
		if k < cnt {
			return t.base + epoch*t.epochMs + t.stepOffsetMs[i] + int64(float64(k)*t.delay[i])/1000
		}
		k -= cnt
	}
	return t.base + (epoch+1)*t.epochMs // unreachable: k < eventsPerEpoch
}

// longestDelayUs is the longest inter-event delay of a generator, in µs.
func (t *timeline) longestDelayUs() float64 {
	m := 0.0
	for _, d := range t.delay {
		m = max(m, d)
	}
	return m
}
