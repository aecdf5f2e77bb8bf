package nexmark

import "fmt"

// Person is a new person event: someone who registered to sell or bid (Beam's model.Person).
type Person struct {
	ID           int64  `parquet:"id" json:"id"`
	Name         string `parquet:"name" json:"name"`
	EmailAddress string `parquet:"email_address" json:"emailAddress"`
	CreditCard   string `parquet:"credit_card" json:"creditCard"`
	City         string `parquet:"city" json:"city"`
	State        string `parquet:"state" json:"state"`
	// DateTime is the event time, in Unix milliseconds.
	DateTime int64 `parquet:"date_time,timestamp(millisecond)" json:"dateTime"`
	// Extra pads the event to its configured average size.
	Extra string `parquet:"extra" json:"extra"`
}

// Auction is a new auction event: an item put up for sale by Seller until Expires (Beam's model.Auction).
type Auction struct {
	ID          int64  `parquet:"id" json:"id"`
	ItemName    string `parquet:"item_name" json:"itemName"`
	Description string `parquet:"description" json:"description"`
	// InitialBid and Reserve are prices in cents.
	InitialBid int64 `parquet:"initial_bid" json:"initialBid"`
	Reserve    int64 `parquet:"reserve" json:"reserve"`
	// DateTime is the event time and Expires the end of the auction, in Unix milliseconds.
	DateTime int64  `parquet:"date_time,timestamp(millisecond)" json:"dateTime"`
	Expires  int64  `parquet:"expires,timestamp(millisecond)" json:"expires"`
	Seller   int64  `parquet:"seller" json:"seller"`
	Category int64  `parquet:"category" json:"category"`
	Extra    string `parquet:"extra" json:"extra"`
}

// Bid is a bid event: Bidder offers Price cents for Auction (Beam's model.Bid).
type Bid struct {
	Auction int64 `parquet:"auction" json:"auction"`
	Bidder  int64 `parquet:"bidder" json:"bidder"`
	Price   int64 `parquet:"price" json:"price"`
	// DateTime is the event time, in Unix milliseconds.
	DateTime int64  `parquet:"date_time,timestamp(millisecond)" json:"dateTime"`
	Extra    string `parquet:"extra" json:"extra"`
}

// EventType says which of an Event's records is set.
type EventType int32

const (
	// PersonEvent is a new person.
	PersonEvent EventType = 0
	// AuctionEvent is a new auction.
	AuctionEvent EventType = 1
	// BidEvent is a bid.
	BidEvent EventType = 2
)

// String returns "person", "auction" or "bid".
func (t EventType) String() string {
	switch t {
	case PersonEvent:
		return "person"
	case AuctionEvent:
		return "auction"
	case BidEvent:
		return "bid"
	}
	return fmt.Sprintf("EventType(%d)", int32(t))
}

// Event is one event of the stream: exactly one of Person, Auction and Bid is set, as in Beam's model.Event.
// Type and DateTime repeat, for convenience and as Flink's Nexmark table does, which record is set and its event
// time: DateTime is the Parquet time column (parquetio.ReadConfig.TimeColumn "date_time").
type Event struct {
	Type     EventType `parquet:"event_type" json:"eventType"`
	Person   *Person   `parquet:"person,optional" json:"newPerson,omitempty"`
	Auction  *Auction  `parquet:"auction,optional" json:"newAuction,omitempty"`
	Bid      *Bid      `parquet:"bid,optional" json:"bid,omitempty"`
	DateTime int64     `parquet:"date_time,timestamp(millisecond)" json:"dateTime"`
}

// Valid reports whether exactly the record named by Type is set and DateTime is its time.
func (e Event) Valid() error {
	n := 0
	for _, set := range []bool{e.Person != nil, e.Auction != nil, e.Bid != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("nexmark: event has %d of person, auction and bid set, want 1", n)
	}
	var t int64
	switch {
	case e.Type == PersonEvent && e.Person != nil:
		t = e.Person.DateTime
	case e.Type == AuctionEvent && e.Auction != nil:
		t = e.Auction.DateTime
	case e.Type == BidEvent && e.Bid != nil:
		t = e.Bid.DateTime
	default:
		return fmt.Errorf("nexmark: event of type %v has another record set", e.Type)
	}
	if t != e.DateTime {
		return fmt.Errorf("nexmark: %v event has dateTime %d but its record %d", e.Type, e.DateTime, t)
	}
	return nil
}

// SizeBytes is the event's size as Beam's KnownSize.sizeInBytes counts it (8 bytes per number, strings their
// length plus one), used for progress and byte rates.
func (e Event) SizeBytes() int64 {
	switch {
	case e.Person != nil:
		p := e.Person
		return 23 + int64(len(p.Name)+len(p.EmailAddress)+len(p.CreditCard)+len(p.City)+len(p.State)+len(p.Extra))
	case e.Auction != nil:
		a := e.Auction
		return 59 + int64(len(a.ItemName)+len(a.Description)+len(a.Extra))
	case e.Bid != nil:
		return 33 + int64(len(e.Bid.Extra))
	}
	return 0
}

// String formats the event on one line, as its type and record.
func (e Event) String() string {
	switch {
	case e.Person != nil:
		return fmt.Sprintf("person%+v", *e.Person)
	case e.Auction != nil:
		return fmt.Sprintf("auction%+v", *e.Auction)
	case e.Bid != nil:
		return fmt.Sprintf("bid%+v", *e.Bid)
	}
	return "event{}"
}
