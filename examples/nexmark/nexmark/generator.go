package nexmark

import (
	"math"
	"strconv"
	"strings"
)

// Generator computes the events of a Config. Event i (0 ≤ i < Len) depends only on the configuration and i, so
// any number of readers can generate any subsets of the stream independently, in any order. A Generator is
// immutable and safe for concurrent use.
//
// The events are Beam's: event i is event number c of Beam generator g (Config.NumEventGenerators of them, each
// with its own range of event ids and its own timeline), where the generators are interleaved in time order: i =
// c·G + g. With the default single generator, i is the event number and the event id.
type Generator struct {
	cfg       Config
	tl        timeline
	maxEvents int64 // events of all generators
	perGen    int64 // events of each generator but the last
	gens      int64
	// numEventsForAuctions is how many events it takes to generate NumInFlightAuctions auctions.
	numEventsForAuctions int64
}

// NewGenerator validates cfg (zero fields take their defaults) and returns its generator.
func NewGenerator(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fill()
	tl, err := newTimeline(cfg)
	if err != nil {
		return nil, err
	}
	g := &Generator{cfg: cfg, tl: tl, gens: int64(cfg.NumEventGenerators)}
	g.maxEvents = cfg.Events
	if g.maxEvents == 0 {
		// Beam's "as many as possible": scaled down so that size estimates do not overflow.
		g.maxEvents = math.MaxInt64 / (ProportionDenominator * int64(max(cfg.AvgPersonByteSize, cfg.AvgAuctionByteSize, cfg.AvgBidByteSize, 1)))
	}
	g.perGen = g.maxEvents / g.gens
	g.numEventsForAuctions = int64(cfg.NumInFlightAuctions) * ProportionDenominator / AuctionProportion
	return g, nil
}

// Config returns the generator's configuration, defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Len returns the number of events: Config.Events, or Beam's maximum for an unbounded stream.
func (g *Generator) Len() int64 { return g.maxEvents }

// locate maps stream position i to (generator, event number within it).
func (g *Generator) locate(i int64) (gen, c int64) {
	if i < g.perGen*g.gens {
		return i % g.gens, i / g.gens
	}
	// The last generator's share of the remainder of Events/NumEventGenerators follows the interleaved part.
	return g.gens - 1, g.perGen + (i - g.perGen*g.gens)
}

// adjusted is Beam's nextAdjustedEventNumber: event numbers shuffled within groups of OutOfOrderGroupSize.
func (g *Generator) adjusted(c int64) int64 {
	n := g.cfg.OutOfOrderGroupSize
	return c/n*n + (c*953)%n
}

// Time returns the event time of event i, in Unix milliseconds, without generating the event.
func (g *Generator) Time(i int64) int64 {
	_, c := g.locate(i)
	return g.tl.at(g.adjusted(c))
}

// MinTimeFrom returns a lower bound of the event times of events i, i+1, …: the time of the first event of the
// out-of-order group of event i (Beam's nextEventNumberForWatermark). Readers use it as their watermark.
func (g *Generator) MinTimeFrom(i int64) int64 {
	_, c := g.locate(i)
	n := g.cfg.OutOfOrderGroupSize
	return g.tl.at(c / n * n)
}

// ReleaseOffsetMs returns when event i is due after the first one, in ms of wall-clock time, for rate-limited
// reading: its unshuffled event time minus the base time (Beam's wallclockTimestamp).
func (g *Generator) ReleaseOffsetMs(i int64) int64 {
	_, c := g.locate(i)
	return g.tl.at(c) - g.tl.base
}

// MaxDisorder returns how far, in ms, an event's time can be behind the time of an event generated before it by
// the same reader: the span of an out-of-order group (0 when events are in order).
func (g *Generator) MaxDisorder() int64 {
	n := g.cfg.OutOfOrderGroupSize
	if n <= 1 {
		return 0
	}
	// Bound over the timeline's steps: n events at the longest delay, plus rounding.
	return int64(math.Ceil(float64(n)*g.tl.longestDelayUs()/1000)) + 1
}

// ExpectedAuctionDurationMs is Beam's WinningBids estimate of how long an auction lasts at the lowest event rate:
// the time to generate NumInFlightAuctions auctions.
func (g *Generator) ExpectedAuctionDurationMs() int64 {
	us := g.tl.longestDelayUs() * ProportionDenominator / AuctionProportion * float64(g.cfg.NumInFlightAuctions)
	return int64(math.Ceil(us / 1000))
}

// Event returns event i, 0 ≤ i < Len.
func (g *Generator) Event(i int64) Event {
	gen, c := g.locate(i)
	adj := g.adjusted(c)
	id := gen*g.perGen + adj
	ts := g.tl.at(adj)
	rnd := newJavaRandom(id ^ g.cfg.Seed)
	switch rem := id % ProportionDenominator; {
	case rem < PersonProportion:
		p := g.nextPerson(id, &rnd, ts)
		return Event{Type: PersonEvent, Person: p, DateTime: ts}
	case rem < PersonProportion+AuctionProportion:
		a := g.nextAuction(adj, id, &rnd, ts)
		return Event{Type: AuctionEvent, Auction: a, DateTime: ts}
	default:
		b := g.nextBid(id, &rnd, ts)
		return Event{Type: BidEvent, Bid: b, DateTime: ts}
	}
}

// lastBase0PersonID is the id (from 0) of the last person generated at or before event id.
func lastBase0PersonID(id int64) int64 {
	epoch, offset := id/ProportionDenominator, id%ProportionDenominator
	if offset >= PersonProportion {
		offset = PersonProportion - 1
	}
	return epoch*PersonProportion + offset
}

// lastBase0AuctionID is the id (from 0) of the last auction generated at or before event id.
func lastBase0AuctionID(id int64) int64 {
	epoch, offset := id/ProportionDenominator, id%ProportionDenominator
	switch {
	case offset < PersonProportion:
		epoch--
		offset = AuctionProportion - 1
	case offset >= PersonProportion+AuctionProportion:
		offset = AuctionProportion - 1
	default:
		offset -= PersonProportion
	}
	return epoch*AuctionProportion + offset
}

// Beam's person lead: bids and auctions may name people up to this many ids ahead of the last one generated.
const (
	personIDLead  = 10
	auctionIDLead = 10
	// Hot sellers, bidders and auctions are the first of each batch of this many ids.
	hotSellerRatio  = 100
	hotBidderRatio  = 100
	hotAuctionRatio = 100
	numCategories   = 5
)

func (g *Generator) nextBase0PersonID(id int64, r *javaRandom) int64 {
	numPeople := lastBase0PersonID(id) + 1
	active := min(numPeople, int64(g.cfg.NumActivePeople))
	n := r.nextLongN(active + personIDLead)
	return numPeople - active + n
}

func (g *Generator) nextBase0AuctionID(id int64, r *javaRandom) int64 {
	maxAuction := lastBase0AuctionID(id)
	minAuction := max(maxAuction-int64(g.cfg.NumInFlightAuctions), 0)
	return minAuction + r.nextLongN(maxAuction-minAuction+1+auctionIDLead)
}

var (
	usStates   = []string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities   = []string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	firstNames = []string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames  = []string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
	// names holds every "First Last" combination, so that a person's name costs no allocation.
	names = func() [][]string {
		out := make([][]string, len(firstNames))
		for i, f := range firstNames {
			for _, l := range lastNames {
				out[i] = append(out[i], f+" "+l)
			}
		}
		return out
	}()
)

func (g *Generator) nextPerson(id int64, r *javaRandom, ts int64) *Person {
	p := &Person{ID: lastBase0PersonID(id) + FirstPersonID, DateTime: ts}
	first := r.nextIntN(int32(len(firstNames)))
	p.Name = names[first][r.nextIntN(int32(len(lastNames)))]
	var sb strings.Builder
	sb.Grow(16)
	appendString(&sb, r, 7)
	sb.WriteByte('@')
	appendString(&sb, r, 5)
	sb.WriteString(".com")
	p.EmailAddress = sb.String()
	var cc [19]byte
	for i := range 4 {
		if i > 0 {
			cc[i*5-1] = ' '
		}
		v := r.nextIntN(10000)
		for j := 3; j >= 0; j-- {
			cc[i*5+j] = byte('0' + v%10)
			v /= 10
		}
	}
	p.CreditCard = string(cc[:])
	p.City = usCities[r.nextIntN(int32(len(usCities)))]
	p.State = usStates[r.nextIntN(int32(len(usStates)))]
	size := 8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State)
	p.Extra = nextExtra(r, size, g.cfg.AvgPersonByteSize)
	return p
}

func (g *Generator) nextAuction(eventNumber, id int64, r *javaRandom, ts int64) *Auction {
	a := &Auction{ID: lastBase0AuctionID(id) + FirstAuctionID, DateTime: ts}
	if r.nextIntN(int32(g.cfg.HotSellersRatio)) > 0 {
		a.Seller = lastBase0PersonID(id) / hotSellerRatio * hotSellerRatio
	} else {
		a.Seller = g.nextBase0PersonID(id, r)
	}
	a.Seller += FirstPersonID
	a.Category = FirstCategoryID + int64(r.nextIntN(numCategories))
	a.InitialBid = nextPrice(r)
	// Beam's nextAuctionLengthMs: an average length of the time it takes to generate NumInFlightAuctions more
	// auctions from here.
	horizon := g.tl.at(eventNumber+g.numEventsForAuctions) - ts
	a.Expires = ts + 1 + r.nextLongN(max(horizon*2, 1))
	a.ItemName = nextString(r, 20)
	a.Description = nextString(r, 100)
	a.Reserve = a.InitialBid + nextPrice(r)
	size := 8 + len(a.ItemName) + len(a.Description) + 8 + 8 + 8 + 8 + 8
	a.Extra = nextExtra(r, size, g.cfg.AvgAuctionByteSize)
	return a
}

func (g *Generator) nextBid(id int64, r *javaRandom, ts int64) *Bid {
	b := &Bid{DateTime: ts}
	if r.nextIntN(int32(g.cfg.HotAuctionRatio)) > 0 {
		b.Auction = lastBase0AuctionID(id) / hotAuctionRatio * hotAuctionRatio
	} else {
		b.Auction = g.nextBase0AuctionID(id, r)
	}
	b.Auction += FirstAuctionID
	if r.nextIntN(int32(g.cfg.HotBiddersRatio)) > 0 {
		b.Bidder = lastBase0PersonID(id)/hotBidderRatio*hotBidderRatio + 1
	} else {
		b.Bidder = g.nextBase0PersonID(id, r)
	}
	b.Bidder += FirstPersonID
	b.Price = nextPrice(r)
	b.Extra = nextExtra(r, 8+8+8+8, g.cfg.AvgBidByteSize)
	return b
}

// nextPrice is Beam's PriceGenerator: a log-uniform price from 1 to 1,000,000 dollars, in cents.
func nextPrice(r *javaRandom) int64 {
	return javaRound(math.Pow(10, r.nextDouble()*6) * 100)
}

// javaRound is Java's Math.round(double) for the values used here: the closest integer, ties up.
func javaRound(x float64) int64 { return int64(math.Floor(x + 0.5)) }

const minStringLength = 3

// appendString appends Beam's nextString: 3 to maxLength−1 random lower-case letters and spaces, trimmed.
func appendString(sb *strings.Builder, r *javaRandom, maxLength int32) {
	n := minStringLength + r.nextIntN(maxLength-minStringLength)
	var buf [128]byte
	s := buf[:0]
	for ; n > 0; n-- {
		if r.nextIntN(13) == 0 {
			s = append(s, ' ')
		} else {
			s = append(s, byte('a'+r.nextIntN(26)))
		}
	}
	sb.Write(trimSpaces(s))
}

func trimSpaces(s []byte) []byte {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	return s
}

// nextString is Beam's StringsGenerator.nextString.
func nextString(r *javaRandom, maxLength int32) string {
	var sb strings.Builder
	appendString(&sb, r, maxLength)
	return sb.String()
}

// nextExactString is Beam's StringsGenerator.nextExactString: length characters from 26 letters drawn six at a
// time from one random int (Java's signed remainder included, which yields some upper-case letters and
// punctuation).
func nextExactString(r *javaRandom, length int) string {
	if length <= 0 {
		return ""
	}
	var buf [256]byte
	var b []byte
	if length <= len(buf) {
		b = buf[:length]
	} else {
		b = make([]byte, length)
	}
	var rnd, n int32
	for i := range b {
		if n == 0 {
			rnd = r.nextInt()
			n = 6
		}
		b[i] = byte('a' + rnd%26)
		rnd /= 26
		n--
	}
	return string(b)
}

// nextExtra is Beam's StringsGenerator.nextExtra: a string that brings currentSize to desiredAverageSize on
// average (±20%).
func nextExtra(r *javaRandom, currentSize, desiredAverageSize int) string {
	if currentSize > desiredAverageSize {
		return ""
	}
	desired := desiredAverageSize - currentSize
	delta := int(javaRound(float64(desired) * 0.2))
	size := desired - delta
	if delta != 0 {
		size += int(r.nextIntN(int32(2 * delta)))
	}
	return nextExactString(r, size)
}

// String describes the configuration briefly.
func (g *Generator) String() string {
	return "nexmark(events=" + strconv.FormatInt(g.cfg.Events, 10) + ", seed=" + strconv.FormatInt(g.cfg.Seed, 10) + ")"
}
