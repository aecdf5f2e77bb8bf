package nexmark

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The events keep Beam's proportions and id structure: 1 person, 3 auctions and 46 bids per 50 events, person
// and auction ids counting up from 1000, bids naming auctions and people that exist or are about to, hot
// auctions and bidders getting the share their ratios give them, and Extra padding events to their average
// sizes.
func TestGeneratorShapesEvents(t *testing.T) {
	g, err := NewGenerator(DefaultConfig(100_000))
	require.NoError(t, err)
	var persons, auctions, bids int
	var personBytes, auctionBytes, bidBytes int64
	var lastPerson, lastAuction int64 = FirstPersonID - 1, FirstAuctionID - 1
	hotAuction, hotBidder := 0, 0
	for i := range g.Len() {
		e := g.Event(i)
		require.NoError(t, e.Valid())
		require.Equal(t, g.Time(i), e.DateTime)
		switch e.Type {
		case PersonEvent:
			persons++
			personBytes += e.SizeBytes()
			require.Equal(t, lastPerson+1, e.Person.ID)
			lastPerson = e.Person.ID
			require.Contains(t, usStates, e.Person.State)
			require.Regexp(t, `^\d{4} \d{4} \d{4} \d{4}$`, e.Person.CreditCard)
		case AuctionEvent:
			auctions++
			auctionBytes += e.SizeBytes()
			require.Equal(t, lastAuction+1, e.Auction.ID)
			lastAuction = e.Auction.ID
			require.Greater(t, e.Auction.Expires, e.Auction.DateTime)
			require.GreaterOrEqual(t, e.Auction.Reserve, e.Auction.InitialBid)
			require.LessOrEqual(t, e.Auction.Seller, lastPerson+personIDLead)
			require.True(t, e.Auction.Category >= FirstCategoryID && e.Auction.Category < FirstCategoryID+numCategories)
		case BidEvent:
			bids++
			bidBytes += e.SizeBytes()
			require.LessOrEqual(t, e.Bid.Auction, lastAuction+auctionIDLead)
			require.LessOrEqual(t, e.Bid.Bidder, lastPerson+personIDLead)
			if e.Bid.Auction == (lastAuction-FirstAuctionID)/hotAuctionRatio*hotAuctionRatio+FirstAuctionID {
				hotAuction++
			}
			if e.Bid.Bidder == (lastPerson-FirstPersonID)/hotBidderRatio*hotBidderRatio+1+FirstPersonID {
				hotBidder++
			}
			require.True(t, e.Bid.Price >= 100 && e.Bid.Price <= 100_000_000, "price %d", e.Bid.Price)
		}
	}
	require.Equal(t, []int{2000, 6000, 92000}, []int{persons, auctions, bids})
	// Average sizes: Extra pads each kind to its configured average (±2%); Beam's sizeInBytes counts a few bytes
	// more than the generator pads for (the time of people, separators).
	require.InDelta(t, 200+15, float64(personBytes)/float64(persons), 4)
	require.InDelta(t, 500+11, float64(auctionBytes)/float64(auctions), 10)
	require.InDelta(t, 100+1, float64(bidBytes)/float64(bids), 2)
	// HotAuctionRatio 2: half the bids go to the hot auction (plus the random ones that pick it); HotBiddersRatio 4:
	// three quarters come from the hot bidder.
	require.InDelta(t, 0.5, float64(hotAuction)/float64(bids), 0.03)
	require.InDelta(t, 0.75, float64(hotBidder)/float64(bids), 0.03)
	// 10000 events per second: 100 µs apart.
	require.Equal(t, DefaultBaseTime.UnixMilli(), g.Time(0))
	require.Equal(t, DefaultBaseTime.UnixMilli()+9999, g.Time(99_999))
}

// Event i is the same whatever else is generated: a function of the configuration and i only (and, with one
// generator, not of Events either), and the seed changes the content but not ids and times.
func TestGeneratorIsDeterministic(t *testing.T) {
	small, err := NewGenerator(DefaultConfig(1000))
	require.NoError(t, err)
	big, err := NewGenerator(DefaultConfig(1_000_000))
	require.NoError(t, err)
	unbounded, err := NewGenerator(DefaultConfig(0))
	require.NoError(t, err)
	require.Greater(t, unbounded.Len(), int64(1)<<40)
	seeded := DefaultConfig(1000)
	seeded.Seed = 7
	other, err := NewGenerator(seeded)
	require.NoError(t, err)
	differ := 0
	for _, i := range []int64{999, 0, 500, 3, 4, 1} {
		e := small.Event(i)
		require.Equal(t, e, big.Event(i))
		require.Equal(t, e, unbounded.Event(i))
		require.Equal(t, e, small.Event(i))
		o := other.Event(i)
		require.Equal(t, e.Type, o.Type)
		require.Equal(t, e.DateTime, o.DateTime)
		if e.String() != o.String() {
			differ++
		}
	}
	require.Equal(t, 6, differ, "the seed changes every event's content")
}

// With out-of-order groups, events of a group are shuffled within the group's time span, and MinTimeFrom is a
// lower bound of every later event's time; MaxDisorder bounds how far behind an earlier event a later one is.
func TestGeneratorOutOfOrderGroups(t *testing.T) {
	cfg := DefaultConfig(20_000)
	cfg.OutOfOrderGroupSize = 1000
	cfg.NumEventGenerators = 3
	g, err := NewGenerator(cfg)
	require.NoError(t, err)
	maxSeen := int64(0)
	inversions := 0
	minFuture := make([]int64, g.Len()+1)
	minFuture[g.Len()] = 1 << 62
	for i := g.Len() - 1; i >= 0; i-- {
		minFuture[i] = min(minFuture[i+1], g.Time(i))
	}
	for i := range g.Len() {
		ts := g.Time(i)
		if ts < maxSeen {
			inversions++
			require.LessOrEqual(t, maxSeen-ts, g.MaxDisorder(), "event %d", i)
		}
		maxSeen = max(maxSeen, ts)
		require.LessOrEqual(t, g.MinTimeFrom(i), minFuture[i], "event %d", i)
	}
	require.Greater(t, inversions, 1000)
}

// Bad parameters are *ConfigError values naming the field.
func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		field string
		mod   func(*Config)
	}{
		{"Events", func(c *Config) { c.Events = -1 }},
		{"FirstEventRate", func(c *Config) { c.FirstEventRate = -5 }},
		{"NextEventRate", func(c *Config) { c.NextEventRate = -5 }},
		{"NumEventGenerators", func(c *Config) { c.NumEventGenerators = -1 }},
		{"NumEventGenerators", func(c *Config) { c.Events, c.NumEventGenerators = 10, 11 }},
		{"HotAuctionRatio", func(c *Config) { c.HotAuctionRatio = -2 }},
		{"AvgBidByteSize", func(c *Config) { c.AvgBidByteSize = -1 }},
		{"OutOfOrderGroupSize", func(c *Config) { c.OutOfOrderGroupSize = -3 }},
		{"RatePeriod", func(c *Config) { c.NextEventRate, c.RatePeriod = 5000, time.Millisecond }},
		{"NumActivePeople", func(c *Config) { c.NumActivePeople = -1 }},
	} {
		c := DefaultConfig(100)
		tc.mod(&c)
		_, err := NewGenerator(c)
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%s: %v", tc.field, err)
		require.Equal(t, tc.field, ce.Field)
		require.ErrorContains(t, err, tc.field)
	}
	require.NoError(t, Config{}.Validate())
}

// The binary encoding round-trips every kind of event, and malformed bytes are ErrCorrupt errors.
func TestEventBinaryRoundTrip(t *testing.T) {
	g, err := NewGenerator(DefaultConfig(200))
	require.NoError(t, err)
	for i := range g.Len() {
		e := g.Event(i)
		b, err := e.MarshalBinary()
		require.NoError(t, err)
		var d Event
		require.NoError(t, d.UnmarshalBinary(b))
		require.Equal(t, e, d)
		if i == 7 {
			for _, bad := range [][]byte{nil, {9}, b[:len(b)-1], append(b, 0)} {
				require.ErrorIs(t, d.UnmarshalBinary(bad), ErrCorrupt)
			}
		}
	}
	_, err = Event{Type: BidEvent}.MarshalBinary()
	require.Error(t, err)
}

func BenchmarkGenerate(b *testing.B) {
	g, err := NewGenerator(DefaultConfig(0))
	require.NoError(b, err)
	b.ReportAllocs()
	for i := range int64(b.N) {
		_ = g.Event(i)
	}
}
