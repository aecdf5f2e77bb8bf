package nexmark

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// beamLine formats an event as the golden files do: generator, event number within it, then the record's fields.
func beamLine(g *Generator, gen, c int64) string {
	var i int64
	if c < g.perGen {
		i = c*g.gens + gen
	} else {
		i = g.perGen*g.gens + c - g.perGen
	}
	e := g.Event(i)
	var f []string
	switch {
	case e.Person != nil:
		p := e.Person
		f = []string{"P", fmt.Sprint(p.ID), p.Name, p.EmailAddress, p.CreditCard, p.City, p.State, fmt.Sprint(p.DateTime), p.Extra}
	case e.Auction != nil:
		a := e.Auction
		f = []string{"A", fmt.Sprint(a.ID), a.ItemName, a.Description, fmt.Sprint(a.InitialBid), fmt.Sprint(a.Reserve),
			fmt.Sprint(a.DateTime), fmt.Sprint(a.Expires), fmt.Sprint(a.Seller), fmt.Sprint(a.Category), a.Extra}
	case e.Bid != nil:
		b := e.Bid
		f = []string{"B", fmt.Sprint(b.Auction), fmt.Sprint(b.Bidder), fmt.Sprint(b.Price), fmt.Sprint(b.DateTime), b.Extra}
	}
	return fmt.Sprintf("%d\t%d\t%s", gen, c, strings.Join(f, "\t"))
}

// configFromArgs reads the golden file's arguments (those of the Java transcription's command line).
func configFromArgs(t *testing.T, args string) Config {
	c := Config{}
	for _, a := range strings.Fields(args) {
		k, v, _ := strings.Cut(a, "=")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "events":
			c.Events = n
		case "generators":
			c.NumEventGenerators = int(n)
		case "rate":
			c.FirstEventRate = float64(n)
		case "nextrate":
			c.NextEventRate = float64(n)
		case "square":
			c.RateShape = Square
		case "period":
			c.RatePeriod = time.Duration(n) * time.Second
		case "ooo":
			c.OutOfOrderGroupSize = n
		case "hotauction":
			c.HotAuctionRatio = int(n)
		case "hotsellers":
			c.HotSellersRatio = int(n)
		case "hotbidders":
			c.HotBiddersRatio = int(n)
		case "inflight":
			c.NumInFlightAuctions = int(n)
		case "active":
			c.NumActivePeople = int(n)
		case "bidsize":
			c.AvgBidByteSize = int(n)
		default:
			t.Fatalf("unknown golden argument %q", a)
		}
	}
	return c
}

// The generator reproduces Beam's Java generator bit for bit: every field of every event, for Beam's defaults and
// for a configuration exercising several generators, a square rate shape, out-of-order groups and non-default
// ratios. The golden files hold the first 200 events and the SHA-256 of all of them, as printed by a
// transcription of Beam's GeneratorConfig, Generator and model generators run on OpenJDK 17 (java.util.Random,
// Math.pow, String.format).
func TestGeneratorMatchesBeam(t *testing.T) {
	for _, name := range []string{"default", "mixed"} {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open("testdata/beam-" + name + ".golden")
			require.NoError(t, err)
			defer f.Close()
			var args, sum string
			var lines int
			var want []string
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				l := sc.Text()
				switch {
				case strings.HasPrefix(l, "# args: "):
					args = strings.TrimPrefix(l, "# args: ")
				case strings.HasPrefix(l, "# lines: "):
					lines, _ = strconv.Atoi(strings.TrimPrefix(l, "# lines: "))
				case strings.HasPrefix(l, "# sha256: "):
					sum = strings.TrimPrefix(l, "# sha256: ")
				case strings.HasPrefix(l, "#"):
				default:
					want = append(want, l)
				}
			}
			require.NoError(t, sc.Err())
			g, err := NewGenerator(configFromArgs(t, args))
			require.NoError(t, err)
			require.Equal(t, int64(lines), g.Len())
			h := sha256.New()
			n := 0
			for gen := range g.gens {
				count := g.perGen
				if gen == g.gens-1 {
					count = g.maxEvents - g.perGen*(g.gens-1)
				}
				for c := range count {
					l := beamLine(g, gen, c)
					if n < len(want) {
						require.Equal(t, want[n], l, "line %d", n+1)
					}
					fmt.Fprintln(h, l)
					n++
				}
			}
			require.Equal(t, lines, n)
			require.Equal(t, sum, hex.EncodeToString(h.Sum(nil)), "events after the first %d differ from Beam's", len(want))
		})
	}
}
