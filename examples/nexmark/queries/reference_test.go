package queries_test

// Plain Go implementations of the queries' definitions, over the whole list of events at once, written from
// Beam's query descriptions (and the CQL in their comments) without kappa: no pipeline, no windows API, no
// state API — loops, maps and sorts. The tests compare the kappa queries with them. Every function returns the
// results as sorted lines; windowed results start with their window as "[start,end)" in Unix milliseconds.

import (
	"fmt"
	"math"
	"sort"

	"github.com/kappaflow/kappa/examples/nexmark/nexmark"
)

// refParams are the query parameters, in milliseconds.
type refParams struct {
	size, period, skip, wait, maxLog, lateness, bidWait int64
}

func sorted(lines []string) []string {
	sort.Strings(lines)
	return lines
}

func win(start, end int64) string { return fmt.Sprintf("[%d,%d) ", start, end) }

func roundHalfUp(x float64) int64 { return int64(math.Floor(x + 0.5)) }

func ref0(events []nexmark.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.String())
	}
	return sorted(out)
}

func ref1(events []nexmark.Event) []string {
	var out []string
	for _, e := range events {
		if e.Bid != nil {
			b := *e.Bid
			b.Price = b.Price * 89 / 100
			out = append(out, fmt.Sprintf("%+v", b))
		}
	}
	return sorted(out)
}

func ref2(events []nexmark.Event, p refParams) []string {
	var out []string
	for _, e := range events {
		if e.Bid != nil && e.Bid.Auction%p.skip == 0 {
			out = append(out, fmt.Sprintf("%d %d", e.Bid.Auction, e.Bid.Price))
		}
	}
	return sorted(out)
}

// ref3: SELECT P.name, P.city, P.state, A.id FROM Auction A, Person P WHERE A.seller = P.id AND P.state IN
// (OR, ID, CA) AND A.category = 10 — where a seller's person and waiting auctions are forgotten once no event of
// theirs came for wait ms of event time.
func ref3(events []nexmark.Event, p refParams) []string {
	byKey := map[int64][]nexmark.Event{}
	for _, e := range events {
		switch {
		case e.Person != nil && (e.Person.State == "OR" || e.Person.State == "ID" || e.Person.State == "CA"):
			byKey[e.Person.ID] = append(byKey[e.Person.ID], e)
		case e.Auction != nil && e.Auction.Category == 10:
			byKey[e.Auction.Seller] = append(byKey[e.Auction.Seller], e)
		}
	}
	var out []string
	for _, evs := range byKey {
		sort.SliceStable(evs, func(i, j int) bool { return evs[i].DateTime < evs[j].DateTime })
		var seller *nexmark.Person
		var waiting []*nexmark.Auction
		last := int64(math.MinInt64)
		for _, e := range evs {
			if last != math.MinInt64 && e.DateTime >= last+p.wait {
				seller, waiting = nil, nil
			}
			last = e.DateTime
			if e.Person != nil && seller == nil {
				seller = e.Person
				for _, a := range waiting {
					out = append(out, fmt.Sprintf("%s|%s|%s|%d", seller.Name, seller.City, seller.State, a.ID))
				}
				waiting = nil
			} else if e.Auction != nil {
				if seller == nil {
					waiting = append(waiting, e.Auction)
				} else {
					out = append(out, fmt.Sprintf("%s|%s|%s|%d", seller.Name, seller.City, seller.State, e.Auction.ID))
				}
			}
		}
	}
	return sorted(out)
}

type refWinner struct {
	a nexmark.Auction
	b nexmark.Bid
}

// refWinners: for every auction, the highest bid (then the earliest, then the lowest bidder id, then the
// smallest extra) at or above the reserve, made before the auction expires and less than bidWait before it
// opened.
func refWinners(events []nexmark.Event, p refParams) []refWinner {
	bidsOf := map[int64][]nexmark.Bid{}
	for _, e := range events {
		if e.Bid != nil {
			bidsOf[e.Bid.Auction] = append(bidsOf[e.Bid.Auction], *e.Bid)
		}
	}
	var out []refWinner
	for _, e := range events {
		if e.Auction == nil {
			continue
		}
		a := *e.Auction
		var best *nexmark.Bid
		for _, b := range bidsOf[a.ID] {
			if b.DateTime >= a.Expires || b.Price < a.Reserve || b.DateTime+p.bidWait <= a.DateTime {
				continue
			}
			if best == nil || b.Price > best.Price ||
				b.Price == best.Price && (b.DateTime < best.DateTime ||
					b.DateTime == best.DateTime && (b.Bidder < best.Bidder || b.Bidder == best.Bidder && b.Extra < best.Extra)) {
				b := b
				best = &b
			}
		}
		if best != nil {
			out = append(out, refWinner{a: a, b: *best})
		}
	}
	return out
}

// slidingWindows returns the starts of the windows of size every period containing t.
func slidingWindows(t, size, period int64) []int64 {
	var starts []int64
	last := t - ((t%period)+period)%period
	for s := last; s > t-size; s -= period {
		starts = append(starts, s)
	}
	return starts
}

// ref4: the average winning price per category over sliding windows, a winner counting at the end of its
// auction (expiry − 1 ms).
func ref4(events []nexmark.Event, p refParams) []string {
	type key struct{ start, cat int64 }
	sum, n := map[key]int64{}, map[key]int64{}
	for _, w := range refWinners(events, p) {
		for _, s := range slidingWindows(w.a.Expires-1, p.size, p.period) {
			k := key{s, w.a.Category}
			sum[k] += w.b.Price
			n[k]++
		}
	}
	var out []string
	for k, s := range sum {
		out = append(out, win(k.start, k.start+p.size)+fmt.Sprintf("%d %d", k.cat, roundHalfUp(float64(s)/float64(n[k]))))
	}
	return sorted(out)
}

// ref5: in each sliding window, the auctions with the most bids.
func ref5(events []nexmark.Event, p refParams) []string {
	counts := map[int64]map[int64]int64{} // window start → auction → bids
	for _, e := range events {
		if e.Bid == nil {
			continue
		}
		for _, s := range slidingWindows(e.DateTime, p.size, p.period) {
			if counts[s] == nil {
				counts[s] = map[int64]int64{}
			}
			counts[s][e.Bid.Auction]++
		}
	}
	var out []string
	for s, perAuction := range counts {
		var most int64
		for _, c := range perAuction {
			most = max(most, c)
		}
		for a, c := range perAuction {
			if c == most {
				out = append(out, win(s, s+p.size)+fmt.Sprintf("%d %d", a, c))
			}
		}
	}
	return sorted(out)
}

// ref6: per seller, the average price of the last 10 winning bids (by bid time, then price).
func ref6(events []nexmark.Event, p refParams) []string {
	bySeller := map[int64][]nexmark.Bid{}
	for _, w := range refWinners(events, p) {
		bySeller[w.a.Seller] = append(bySeller[w.a.Seller], w.b)
	}
	var out []string
	for seller, bids := range bySeller {
		sort.SliceStable(bids, func(i, j int) bool {
			if bids[i].DateTime != bids[j].DateTime {
				return bids[i].DateTime < bids[j].DateTime
			}
			return bids[i].Price < bids[j].Price
		})
		if len(bids) > 10 {
			bids = bids[len(bids)-10:]
		}
		var sum int64
		for _, b := range bids {
			sum += b.Price
		}
		out = append(out, fmt.Sprintf("%d %d", seller, roundHalfUp(float64(sum)/float64(len(bids)))))
	}
	return sorted(out)
}

func fixedStart(t, size int64) int64 { return t - ((t%size)+size)%size }

// ref7: in each fixed window, the bids with the highest price.
func ref7(events []nexmark.Event, p refParams) []string {
	top := map[int64][]nexmark.Bid{}
	for _, e := range events {
		if e.Bid == nil {
			continue
		}
		s := fixedStart(e.DateTime, p.size)
		cur := top[s]
		switch {
		case len(cur) == 0 || e.Bid.Price > cur[0].Price:
			top[s] = []nexmark.Bid{*e.Bid}
		case e.Bid.Price == cur[0].Price:
			top[s] = append(cur, *e.Bid)
		}
	}
	var out []string
	for s, bids := range top {
		for _, b := range bids {
			out = append(out, win(s, s+p.size)+fmt.Sprintf("%+v", b))
		}
	}
	return sorted(out)
}

// ref8: in each fixed window, the people who registered and opened auctions in it, once per auction.
func ref8(events []nexmark.Event, p refParams) []string {
	type key struct{ start, id int64 }
	people := map[key]nexmark.Person{}
	for _, e := range events {
		if e.Person != nil {
			people[key{fixedStart(e.DateTime, p.size), e.Person.ID}] = *e.Person
		}
	}
	var out []string
	for _, e := range events {
		if e.Auction == nil {
			continue
		}
		s := fixedStart(e.DateTime, p.size)
		if who, ok := people[key{s, e.Auction.Seller}]; ok {
			out = append(out, win(s, s+p.size)+fmt.Sprintf("%d %s %d", who.ID, who.Name, e.Auction.Reserve))
		}
	}
	return sorted(out)
}

// ref11: per bidder, sessions of bids no more than size apart; the session [first bid, last bid + size) and its
// number of bids.
func ref11(events []nexmark.Event, p refParams) []string {
	times := map[int64][]int64{}
	for _, e := range events {
		if e.Bid != nil {
			times[e.Bid.Bidder] = append(times[e.Bid.Bidder], e.DateTime)
		}
	}
	var out []string
	for bidder, ts := range times {
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		start, end, n := ts[0], ts[0]+p.size, int64(0)
		for _, t := range ts {
			if t >= end {
				out = append(out, win(start, end)+fmt.Sprintf("%d %d", bidder, n))
				start, n = t, 0
			}
			end = max(end, t+p.size)
			n++
		}
		out = append(out, win(start, end)+fmt.Sprintf("%d %d", bidder, n))
	}
	return sorted(out)
}

// ref12: bids per bidder (query 12's processing-time panes add up to this).
func ref12(events []nexmark.Event) []string {
	n := map[int64]int64{}
	for _, e := range events {
		if e.Bid != nil {
			n[e.Bid.Bidder]++
		}
	}
	var out []string
	for b, c := range n {
		out = append(out, fmt.Sprintf("%d %d", b, c))
	}
	return sorted(out)
}
