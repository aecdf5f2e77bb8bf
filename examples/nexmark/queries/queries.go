package queries

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/kappaflow/kappa/examples/nexmark/nexmark"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

type (
	event                   = nexmark.Event
	bid                     = nexmark.Bid
	auction                 = nexmark.Auction
	person                  = nexmark.Person
	kv[K comparable, V any] = transforms.KV[K, V]
)

// ErrNoEventTime is the cause of the error that stops a query needing event time (windows or event-time timers)
// when an event has none: read events with event times (nexmark.Read, nexmark.ReadParquet with the time
// column, Kafka records with timestamps) or set them with windowing.WithEventTime.
var ErrNoEventTime = errors.New("event has no event time")

// checkTime fails on an element without an event time (pipeline.MinTime, or before 1970: a Kafka record
// without timestamp).
func checkTime(query string, e pipeline.Element[event]) error {
	if e.Time == pipeline.MinTime || e.Time < 0 {
		return fmt.Errorf("%s needs event times: %w (%v, time %v): read events with event times or set them with windowing.WithEventTime",
			query, ErrNoEventTime, e.Value.Type, e.Time)
	}
	return nil
}

// bids extracts the bids (Beam's JUST_BIDS), checking event times when the query needs them.
func bids(s pipeline.Scope, events pipeline.PCollection[event], query string, needTime bool) pipeline.PCollection[bid] {
	return transforms.ParDo(s, events, transforms.DoFunc[event, bid](
		func(_ context.Context, e pipeline.Element[event], emit transforms.Emitter[bid]) error {
			if needTime {
				if err := checkTime(query, e); err != nil {
					return err
				}
			}
			if e.Value.Bid != nil {
				emit.Emit(*e.Value.Bid)
			}
			return nil
		}), transforms.Name("JustBids"))
}

// Q0 passes every event through, after a round trip through its binary encoding (Beam's Query0 measures the
// cost of its coders this way).
func Q0(s pipeline.Scope, events pipeline.PCollection[event]) pipeline.PCollection[event] {
	s = s.Scope("q0")
	return transforms.ParDo(s, events, &roundTrip{}, transforms.Name("Serialize"))
}

// roundTrip encodes and decodes each event, reusing one buffer per worker.
type roundTrip struct{ buf []byte }

// NewWorker gives each worker its own buffer.
func (*roundTrip) NewWorker() any { return &roundTrip{} }

// ProcessElement round-trips the event.
func (r *roundTrip) ProcessElement(_ context.Context, e pipeline.Element[event], emit transforms.Emitter[event]) error {
	var err error
	if r.buf, err = e.Value.AppendBinary(r.buf[:0]); err != nil {
		return err
	}
	var out event
	if err := out.UnmarshalBinary(r.buf); err != nil {
		return err
	}
	emit.Emit(out)
	return nil
}

// Q1 converts bid prices from dollars to euros (Beam's Query1: price × 89 / 100).
func Q1(s pipeline.Scope, events pipeline.PCollection[event]) pipeline.PCollection[bid] {
	s = s.Scope("q1")
	return transforms.Map(s, bids(s, events, "q1", false), func(b bid) bid {
		b.Price = b.Price * 89 / 100
		return b
	})
}

// Q2 selects the bids of every AuctionSkip-th auction (Beam's Query2).
func Q2(s pipeline.Scope, events pipeline.PCollection[event], p Params) pipeline.PCollection[AuctionPrice] {
	s = s.Scope("q2")
	skip := p.AuctionSkip
	return transforms.ParDo(s, events, transforms.DoFunc[event, AuctionPrice](
		func(_ context.Context, e pipeline.Element[event], emit transforms.Emitter[AuctionPrice]) error {
			if b := e.Value.Bid; b != nil && b.Auction%skip == 0 {
				emit.Emit(AuctionPrice{Auction: b.Auction, Price: b.Price})
			}
			return nil
		}), transforms.Name("Select"))
}

// Q3 finds who is selling in OR, ID or CA in category 10, and for what auction (Beam's Query3, "local item
// suggestion"): an incremental join of people and auctions on the seller, in keyed state, which holds a
// person to match their later auctions and an auction until its seller's person event arrives, and forgets both
// MaxAuctionsWaitingTime of event time after the key's last event.
func Q3(s pipeline.Scope, events pipeline.PCollection[event], p Params) pipeline.PCollection[NameCityStateID] {
	s = s.Scope("q3")
	keyed := transforms.ParDo(s, events, transforms.DoFunc[event, kv[int64, event]](
		func(_ context.Context, e pipeline.Element[event], emit transforms.Emitter[kv[int64, event]]) error {
			if err := checkTime("q3", e); err != nil {
				return err
			}
			switch v := e.Value; {
			case v.Auction != nil && v.Auction.Category == 10:
				emit.Emit(kv[int64, event]{Key: v.Auction.Seller, Value: v})
			case v.Person != nil && (v.Person.State == "OR" || v.Person.State == "ID" || v.Person.State == "CA"):
				emit.Emit(kv[int64, event]{Key: v.Person.ID, Value: v})
			}
			return nil
		}), transforms.Name("SellersAndAuctions"))
	return transforms.StatefulParDo(s, keyed, q3Join{wait: p.MaxAuctionsWaitingTime}, transforms.Name("Join"))
}

var (
	q3Person   = transforms.ValueState[person]{Name: "person"}
	q3Auctions = transforms.BagState[auction]{Name: "auctions"}
)

// q3Join is Beam's Query3 JoinDoFn.
type q3Join struct{ wait time.Duration }

func (j q3Join) ProcessElement(_ context.Context, sc *transforms.StateContext[int64], e pipeline.Element[event], emit transforms.Emitter[NameCityStateID]) error {
	known, ok := q3Person.Read(sc)
	switch v := e.Value; {
	case v.Person != nil:
		if ok {
			break // a duplicate or conflicting person: Beam logs it and moves on
		}
		q3Person.Write(sc, *v.Person)
		for a := range q3Auctions.Read(sc) {
			emit.Emit(NameCityStateID{Name: v.Person.Name, City: v.Person.City, State: v.Person.State, ID: a.ID})
		}
		q3Auctions.Clear(sc)
	case v.Auction != nil:
		if !ok {
			q3Auctions.Add(sc, *v.Auction)
			break
		}
		emit.Emit(NameCityStateID{Name: known.Name, City: known.City, State: known.State, ID: v.Auction.ID})
	}
	sc.SetEventTimer("expire", pipeline.Time(e.Value.DateTime).Add(j.wait))
	return nil
}

func (j q3Join) OnTimer(_ context.Context, sc *transforms.StateContext[int64], _ transforms.Timer, _ transforms.Emitter[NameCityStateID]) error {
	q3Person.Clear(sc)
	q3Auctions.Clear(sc)
	return nil
}

// WinningBids finds the winning bid of each closed auction (Beam's WinningBids): the highest bid at or above the
// reserve made before the auction expires (the earliest of equal bids). Beam brings each auction and its bids
// together with a custom merging window function; kappa has no custom window functions, so this is the same
// join in keyed state: per auction, its record, its best bid so far, and the bids that arrived before it (Beam's
// bid windows: each waits twice ExpectedAuctionDuration for its auction). A timer at the auction's expiry emits
// the winner, timestamped at the end of the auction (expiry − 1 ms, as Beam's window).
func WinningBids(s pipeline.Scope, events pipeline.PCollection[event], p Params, query string) pipeline.PCollection[AuctionBid] {
	s = s.Scope("WinningBids")
	keyed := transforms.ParDo(s, events, transforms.DoFunc[event, kv[int64, event]](
		func(_ context.Context, e pipeline.Element[event], emit transforms.Emitter[kv[int64, event]]) error {
			if err := checkTime(query, e); err != nil {
				return err
			}
			switch v := e.Value; {
			case v.Auction != nil:
				emit.Emit(kv[int64, event]{Key: v.Auction.ID, Value: v})
			case v.Bid != nil:
				emit.Emit(kv[int64, event]{Key: v.Bid.Auction, Value: v})
			}
			return nil
		}), transforms.Name("AuctionsAndBids"))
	return transforms.StatefulParDo(s, keyed, winningBids{bidWait: 2 * p.ExpectedAuctionDuration.Milliseconds()}, transforms.Name("Join"))
}

// auctionState is what WinningBids keeps per auction id, in one state cell (one lookup per event).
type auctionState struct {
	// Auction is the auction, once it arrived (HasAuction).
	Auction    auction
	HasAuction bool
	// Best is the best valid bid so far (HasBest).
	Best    bid
	HasBest bool
	// Pending are the bids that arrived before their auction; Deadline is when the last of their windows ends.
	Pending  []bid
	Deadline int64
	// Closed: the auction ended and its winner was emitted; bids for it are dropped until the timer "forget".
	Closed bool
}

var wbState = transforms.ValueState[*auctionState]{Name: "auction"}

type winningBids struct{ bidWait int64 }

// better orders bids: higher price, then earlier, then (a tie-break Beam leaves to arrival order) lower bidder
// and smaller extra.
func better(a, b bid) bool {
	switch {
	case a.Price != b.Price:
		return a.Price > b.Price
	case a.DateTime != b.DateTime:
		return a.DateTime < b.DateTime
	case a.Bidder != b.Bidder:
		return a.Bidder < b.Bidder
	}
	return a.Extra < b.Extra
}

func (w winningBids) offer(st *auctionState, b *bid) {
	a := &st.Auction
	// A bid counts if made before the auction expires, and less than bidWait before it opened: Beam's bid window
	// [bid time, bid time + bidWait) must still be open when the auction arrives (with an exact watermark, an
	// ended window is gone).
	if b.DateTime >= a.Expires || b.Price < a.Reserve || b.DateTime+w.bidWait <= a.DateTime {
		return
	}
	if st.HasBest && !better(*b, st.Best) {
		return
	}
	st.Best, st.HasBest = *b, true
}

func (w winningBids) ProcessElement(_ context.Context, sc *transforms.StateContext[int64], e pipeline.Element[event], _ transforms.Emitter[AuctionBid]) error {
	st, ok := wbState.Read(sc)
	if !ok {
		st = &auctionState{}
	}
	switch v := e.Value; {
	case st.Closed:
		return nil // a bid for an auction already closed: after its end, so it cannot win
	case v.Auction != nil:
		if st.HasAuction {
			return nil // a duplicate auction
		}
		st.Auction, st.HasAuction = *v.Auction, true
		for i := range st.Pending {
			w.offer(st, &st.Pending[i])
		}
		st.Pending, st.Deadline = nil, 0
		sc.SetEventTimer("close", pipeline.Time(st.Auction.Expires))
	case v.Bid != nil:
		if st.HasAuction {
			w.offer(st, v.Bid)
			break
		}
		st.Pending = append(st.Pending, *v.Bid)
		if d := v.Bid.DateTime + w.bidWait; d > st.Deadline {
			st.Deadline = d
			sc.SetEventTimer("close", pipeline.Time(d))
		}
	}
	wbState.Write(sc, st)
	return nil
}

func (w winningBids) OnTimer(_ context.Context, sc *transforms.StateContext[int64], t transforms.Timer, emit transforms.Emitter[AuctionBid]) error {
	st, ok := wbState.Read(sc)
	if !ok || t.Name == "forget" || !st.HasAuction {
		wbState.Clear(sc) // forgotten, or bids whose auction never came
		return nil
	}
	if st.HasBest {
		emit.EmitElement(pipeline.Element[AuctionBid]{Value: AuctionBid{Auction: st.Auction, Bid: st.Best},
			Time: pipeline.Time(st.Auction.Expires - 1), Window: sc.Window(), Pane: pipeline.NoFiringPane})
	}
	// Remember the auction closed while bids for it may still come (the hot auction gets bids long after its
	// end), so that they are dropped at once instead of waiting as pending bids.
	wbState.Write(sc, &auctionState{Closed: true})
	sc.SetEventTimer("forget", pipeline.Time(st.Auction.Expires+w.bidWait))
	return nil
}

// meanPrice is the mean of prices, rounded as Java's Math.round (Beam's Mean, then Math.round).
type meanPrice struct{}

type sumCount struct{ Sum, Count int64 }

func (meanPrice) CreateAccumulator() sumCount { return sumCount{} }
func (meanPrice) AddInput(a sumCount, v int64) sumCount {
	return sumCount{Sum: a.Sum + v, Count: a.Count + 1}
}
func (meanPrice) MergeAccumulators(a, b sumCount) sumCount {
	return sumCount{Sum: a.Sum + b.Sum, Count: a.Count + b.Count}
}
func (meanPrice) ExtractOutput(a sumCount) int64 { return javaRound(float64(a.Sum) / float64(a.Count)) }

func javaRound(x float64) int64 { return int64(math.Floor(x + 0.5)) }

// Q4 averages the winning prices of the auctions closed in each category, over sliding windows of WindowSize
// every WindowPeriod (Beam's Query4).
func Q4(s pipeline.Scope, events pipeline.PCollection[event], p Params) pipeline.PCollection[CategoryPrice] {
	s = s.Scope("q4")
	winners := WinningBids(s, events, p, "q4")
	prices := transforms.Map(s, winners, func(w AuctionBid) kv[int64, int64] {
		return kv[int64, int64]{Key: w.Auction.Category, Value: w.Bid.Price}
	})
	windowed := windowing.Into(s, prices, windowing.Sliding{Size: p.WindowSize, Period: p.WindowPeriod})
	means := transforms.CombinePerKey(s, windowed, meanPrice{}, transforms.Name("Mean"))
	return transforms.Map(s, means, func(m kv[int64, int64]) CategoryPrice {
		return CategoryPrice{Category: m.Key, Price: m.Value}
	})
}

// topCounts keeps the auctions with the highest count (Beam's Query5 TopCombineFn).
type topCounts struct{}

type top struct {
	Count    int64
	Auctions []int64
}

func (topCounts) CreateAccumulator() top { return top{} }
func (topCounts) AddInput(a top, c kv[int64, int64]) top {
	switch {
	case c.Value > a.Count:
		a.Count, a.Auctions = c.Value, append(a.Auctions[:0], c.Key)
	case c.Value == a.Count:
		a.Auctions = append(a.Auctions, c.Key)
	}
	return a
}
func (topCounts) MergeAccumulators(a, b top) top {
	switch {
	case b.Count > a.Count:
		a.Count, a.Auctions = b.Count, append(a.Auctions[:0], b.Auctions...)
	case b.Count == a.Count:
		a.Auctions = append(a.Auctions, b.Auctions...)
	}
	return a
}
func (topCounts) ExtractOutput(a top) top { return a }

// Q5 finds the auctions with the most bids in each sliding window of WindowSize every WindowPeriod (Beam's
// Query5, "hot items").
func Q5(s pipeline.Scope, events pipeline.PCollection[event], p Params) pipeline.PCollection[AuctionCount] {
	s = s.Scope("q5")
	windowed := windowing.Into(s, bids(s, events, "q5", true), windowing.Sliding{Size: p.WindowSize, Period: p.WindowPeriod})
	counts := transforms.Count(s, transforms.Map(s, windowed, func(b bid) int64 { return b.Auction }))
	hottest := transforms.Combine(s, counts, topCounts{}, transforms.Name("Hottest"))
	return transforms.FlatMap(s, hottest, func(t top) []AuctionCount {
		out := make([]AuctionCount, len(t.Auctions))
		for i, a := range t.Auctions {
			out[i] = AuctionCount{Auction: a, Count: t.Count}
		}
		return out
	})
}

// lastBids keeps a seller's last n winning bids, by time then price, and averages their prices (Beam's Query6
// MovingMeanSellingPrice).
type lastBids struct{ n int }

func byTimeThenPrice(a, b bid) int {
	if a.DateTime != b.DateTime {
		return int(a.DateTime - b.DateTime)
	}
	return int(a.Price - b.Price)
}

func (l lastBids) trim(a []bid) []bid {
	slices.SortStableFunc(a, byTimeThenPrice)
	if len(a) > l.n {
		a = append(a[:0], a[len(a)-l.n:]...)
	}
	return a
}

func (lastBids) CreateAccumulator() []bid             { return nil }
func (l lastBids) AddInput(a []bid, b bid) []bid      { return l.trim(append(a, b)) }
func (l lastBids) MergeAccumulators(a, b []bid) []bid { return l.trim(append(a, b...)) }
func (lastBids) ExtractOutput(a []bid) int64 {
	if len(a) == 0 {
		return 0
	}
	var sum int64
	for _, b := range a {
		sum += b.Price
	}
	return javaRound(float64(sum) / float64(len(a)))
}

// Q6 averages the selling price of each seller's last 10 closed auctions, updated with every winning bid
// (Beam's Query6: a global window fired after every element, accumulating). kappa fires a trigger at most
// once per micro-batch, so a seller gets one update per micro-batch with new winners, the last one final.
func Q6(s pipeline.Scope, events pipeline.PCollection[event], p Params) pipeline.PCollection[SellerPrice] {
	s = s.Scope("q6")
	winners := WinningBids(s, events, p, "q6")
	bySeller := transforms.Map(s, winners, func(w AuctionBid) kv[int64, bid] {
		return kv[int64, bid]{Key: w.Auction.Seller, Value: w.Bid}
	})
	global := windowing.Into(s, bySeller, windowing.Global{},
		windowing.WithTrigger(windowing.Repeatedly{Trigger: windowing.AfterCount{N: 1}}), windowing.AccumulatingPanes())
	means := transforms.CombinePerKey(s, global, lastBids{n: 10}, transforms.Name("MovingMeanSellingPrice"))
	return transforms.Map(s, means, func(m kv[int64, int64]) SellerPrice { return SellerPrice{Seller: m.Key, Price: m.Value} })
}

// maxBids keeps the bids with the highest price.
type maxBids struct{}

func (maxBids) CreateAccumulator() []bid { return nil }
func (maxBids) AddInput(a []bid, b bid) []bid {
	switch {
	case len(a) == 0 || b.Price > a[0].Price:
		return append(a[:0], b)
	case b.Price == a[0].Price:
		return append(a, b)
	}
	return a
}
func (m maxBids) MergeAccumulators(a, b []bid) []bid {
	for _, x := range b {
		a = m.AddInput(a, x)
	}
	return a
}
func (maxBids) ExtractOutput(a []bid) []bid { return a }

// Q7 selects the bids with the highest price in each fixed window of WindowSize (Beam's Query7, "highest bid").
// Beam computes the maximum price as a side input and filters the window's bids with it; kappa has no side
// inputs, so a combiner keeps the bids with the highest price (what Beam's comment calls the more efficient
// approach).
func Q7(s pipeline.Scope, events pipeline.PCollection[event], p Params) pipeline.PCollection[bid] {
	s = s.Scope("q7")
	windowed := windowing.Into(s, bids(s, events, "q7", true), windowing.Fixed{Size: p.WindowSize})
	highest := transforms.Combine(s, windowed, maxBids{}, transforms.Name("MaxPrice"))
	return transforms.FlatMap(s, highest, func(b []bid) []bid { return b })
}

// Q8 finds the people who registered and opened an auction in the same fixed window of WindowSize (Beam's
// Query8, "monitor new users"): a windowed join of people and auctions on the seller.
func Q8(s pipeline.Scope, events pipeline.PCollection[event], p Params) pipeline.PCollection[IDNameReserve] {
	s = s.Scope("q8")
	persons, auctions := transforms.ParDo2(s, events, transforms.DoFunc2[event, kv[int64, person], kv[int64, auction]](
		func(_ context.Context, e pipeline.Element[event], people transforms.Emitter[kv[int64, person]], auctions transforms.Emitter[kv[int64, auction]]) error {
			if err := checkTime("q8", e); err != nil {
				return err
			}
			switch v := e.Value; {
			case v.Person != nil:
				people.Emit(kv[int64, person]{Key: v.Person.ID, Value: *v.Person})
			case v.Auction != nil:
				auctions.Emit(kv[int64, auction]{Key: v.Auction.Seller, Value: *v.Auction})
			}
			return nil
		}), transforms.Name("PeopleAndAuctions"))
	w := windowing.Fixed{Size: p.WindowSize}
	joined := transforms.Join(s, transforms.InnerJoin, windowing.Into(s, persons, w), windowing.Into(s, auctions, w))
	return transforms.Map(s, joined, func(j transforms.Joined[int64, person, auction]) IDNameReserve {
		return IDNameReserve{ID: j.Left.ID, Name: j.Left.Name, Reserve: j.Right.Reserve}
	})
}

// Q11 counts each bidder's bids per session of activity, sessions ending after a gap of WindowSize; a session
// reports early every MaxLogEvents bids (Beam's Query11, "user sessions").
func Q11(s pipeline.Scope, events pipeline.PCollection[event], p Params) pipeline.PCollection[BidsPerSession] {
	s = s.Scope("q11")
	bidders := transforms.Map(s, bids(s, events, "q11", true), func(b bid) int64 { return b.Bidder })
	sessions := windowing.Into(s, bidders, windowing.Sessions{Gap: p.WindowSize},
		windowing.WithTrigger(windowing.Repeatedly{Trigger: windowing.AfterCount{N: p.MaxLogEvents}}),
		windowing.DiscardingPanes(),
		windowing.AllowedLateness(time.Duration(p.OccasionalDelay/time.Second/2)*time.Second))
	counts := transforms.Count(s, sessions)
	return transforms.Map(s, counts, func(c kv[int64, int64]) BidsPerSession { return BidsPerSession{Bidder: c.Key, Bids: c.Value} })
}

// Q12 counts each bidder's bids per WindowSize of processing time, in the global window (Beam's Query12,
// "processing-time windows"). Its panes depend on how fast the input is read; their sum per bidder does not.
func Q12(s pipeline.Scope, events pipeline.PCollection[event], p Params) pipeline.PCollection[BidsPerSession] {
	s = s.Scope("q12")
	bidders := transforms.Map(s, bids(s, events, "q12", false), func(b bid) int64 { return b.Bidder })
	global := windowing.Into(s, bidders, windowing.Global{},
		windowing.WithTrigger(windowing.Repeatedly{Trigger: windowing.AfterProcessingTime{Delay: p.WindowSize}}),
		windowing.DiscardingPanes())
	counts := transforms.Count(s, global)
	return transforms.Map(s, counts, func(c kv[int64, int64]) BidsPerSession { return BidsPerSession{Bidder: c.Key, Bids: c.Value} })
}
