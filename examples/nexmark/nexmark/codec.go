package nexmark

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// AppendBinary appends the event's binary encoding to b, in the spirit of Beam's hand-written coders (Beam's
// default coder strategy): a type byte, then the record's fields in declaration order, integers as zig-zag
// varints and strings as a uvarint length and their bytes. Query 0 round-trips every event through it, and
// the Kafka records use it.
func (e Event) AppendBinary(b []byte) ([]byte, error) {
	if err := e.Valid(); err != nil {
		return b, err
	}
	b = append(b, byte(e.Type))
	switch e.Type {
	case PersonEvent:
		p := e.Person
		b = binary.AppendVarint(b, p.ID)
		b = appendStrings(b, p.Name, p.EmailAddress, p.CreditCard, p.City, p.State)
		b = binary.AppendVarint(b, p.DateTime)
		b = appendStrings(b, p.Extra)
	case AuctionEvent:
		a := e.Auction
		b = binary.AppendVarint(b, a.ID)
		b = appendStrings(b, a.ItemName, a.Description)
		for _, v := range []int64{a.InitialBid, a.Reserve, a.DateTime, a.Expires, a.Seller, a.Category} {
			b = binary.AppendVarint(b, v)
		}
		b = appendStrings(b, a.Extra)
	case BidEvent:
		x := e.Bid
		for _, v := range []int64{x.Auction, x.Bidder, x.Price, x.DateTime} {
			b = binary.AppendVarint(b, v)
		}
		b = appendStrings(b, x.Extra)
	}
	return b, nil
}

// MarshalBinary returns the event's binary encoding (see AppendBinary).
func (e Event) MarshalBinary() ([]byte, error) {
	return e.AppendBinary(make([]byte, 0, 64+e.SizeBytes()))
}

func appendStrings(b []byte, ss ...string) []byte {
	for _, s := range ss {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// ErrCorrupt is the cause of UnmarshalBinary errors: the bytes are not an encoded event.
var ErrCorrupt = errors.New("nexmark: corrupt event encoding")

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d of %d", ErrCorrupt, what, d.off, len(d.b))
	}
}

func (d *decoder) int() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) str() string {
	if d.err != nil {
		return ""
	}
	l, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 || l > uint64(len(d.b)-d.off-n) {
		d.fail("bad string length")
		return ""
	}
	d.off += n
	s := string(d.b[d.off : d.off+int(l)])
	d.off += int(l)
	return s
}

// UnmarshalBinary decodes an encoding made by AppendBinary; malformed input is an error wrapping ErrCorrupt.
func (e *Event) UnmarshalBinary(data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: empty", ErrCorrupt)
	}
	d := decoder{b: data, off: 1}
	*e = Event{Type: EventType(data[0])}
	switch e.Type {
	case PersonEvent:
		p := &Person{ID: d.int(), Name: d.str(), EmailAddress: d.str(), CreditCard: d.str(), City: d.str(), State: d.str()}
		p.DateTime = d.int()
		p.Extra = d.str()
		e.Person, e.DateTime = p, p.DateTime
	case AuctionEvent:
		a := &Auction{ID: d.int(), ItemName: d.str(), Description: d.str()}
		a.InitialBid, a.Reserve, a.DateTime, a.Expires, a.Seller, a.Category = d.int(), d.int(), d.int(), d.int(), d.int(), d.int()
		a.Extra = d.str()
		e.Auction, e.DateTime = a, a.DateTime
	case BidEvent:
		x := &Bid{Auction: d.int(), Bidder: d.int(), Price: d.int(), DateTime: d.int()}
		x.Extra = d.str()
		e.Bid, e.DateTime = x, x.DateTime
	default:
		return fmt.Errorf("%w: unknown event type %d", ErrCorrupt, data[0])
	}
	if d.err == nil && d.off != len(data) {
		d.fail("trailing bytes")
	}
	return d.err
}
