// Package token is the slot-and-generation table that makes events for a
// deleted registration, or for a descriptor number closed and reused,
// recognisable and droppable: the trap the Go runtime closes by tagging
// its pollDesc pointer with a sequence number (taggedPointerPack), here as
// a table index tagged with a generation, which fits the 64-bit data every
// epoll event and io_uring completion carries back.
//
// A Token is the index of a slot (low 32 bits) and the slot's generation
// (bits 32..62). Freeing or renewing a slot moves its generation on, so a
// token handed out earlier no longer matches and Get returns nil for it:
// an event that carries it is stale. Bit 63 is never set in a token; users
// keep it for their own tags (a wake-up, an internal request).
//
// Generations are 31 bits and never 0, so the zero Token is never valid.
// A slot must be freed and reused 2^31-1 times before an old token could
// match again.
package token

// Token names one registration: a slot index and its generation.
type Token uint64

// Internal is the bit no Token has: data with it set is the user's own tag.
const Internal Token = 1 << 63

const genMask = 1<<31 - 1

// Make packs a slot index and a generation.
func Make(idx, gen uint32) Token { return Token(uint64(gen&genMask)<<32 | uint64(idx)) }

// Index returns the slot index.
func (t Token) Index() uint32 { return uint32(t) }

// Gen returns the generation.
func (t Token) Gen() uint32 { return uint32(uint64(t)>>32) & genMask }

// pageShift sizes the pages slots live in: pages never move, so a pointer
// returned by Get or Alloc stays valid while the slot is live, however the
// table grows.
const (
	pageShift = 9
	pageSize  = 1 << pageShift
)

type entry[T any] struct {
	gen  uint32
	live bool
	v    T
}

// Table holds values of type T in slots named by Tokens. It is not safe for
// concurrent use: it belongs to one goroutine (an event loop) or is guarded
// by its owner's lock. Its steady state allocates nothing: freed slots are
// reused, most recently freed first.
type Table[T any] struct {
	pages []*[pageSize]entry[T]
	free  []uint32
	next  uint32 // slots below next have been used at least once
	live  int
	max   int
}

// New returns a table of at most max live slots (max <= 0: no bound but
// the 32-bit index).
func New[T any](max int) *Table[T] {
	if max <= 0 || max > 1<<32-1 {
		max = 1<<32 - 1
	}
	return &Table[T]{max: max}
}

// Len returns the number of live slots.
func (t *Table[T]) Len() int { return t.live }

// Cap returns the most live slots the table holds.
func (t *Table[T]) Cap() int { return t.max }

func (t *Table[T]) at(idx uint32) *entry[T] {
	return &t.pages[idx>>pageShift][idx&(pageSize-1)]
}

// Alloc takes a free slot and returns its token and a pointer to its
// value, which is the zero T. It reports false when max slots are live.
func (t *Table[T]) Alloc() (Token, *T, bool) {
	if t.live >= t.max {
		return 0, nil, false
	}
	var idx uint32
	if k := len(t.free); k > 0 {
		idx = t.free[k-1]
		t.free = t.free[:k-1]
	} else {
		idx = t.next
		if int(idx>>pageShift) == len(t.pages) {
			t.pages = append(t.pages, new([pageSize]entry[T]))
		}
		t.next++
	}
	e := t.at(idx)
	e.gen = nextGen(e.gen)
	e.live = true
	t.live++
	return Make(idx, e.gen), &e.v, true
}

func nextGen(g uint32) uint32 {
	g = (g + 1) & genMask
	if g == 0 {
		g = 1
	}
	return g
}

// Get returns the value of the live slot tok names, or nil when tok is
// stale (its slot was freed or renewed since) or was never handed out.
func (t *Table[T]) Get(tok Token) *T {
	if tok&Internal != 0 {
		return nil
	}
	idx := tok.Index()
	if idx >= t.next {
		return nil
	}
	e := t.at(idx)
	if !e.live || e.gen != tok.Gen() {
		return nil
	}
	return &e.v
}

// Renewed returns the token Renew will give tok's slot, without moving
// anything: a user that must tell the kernel the new tag before it commits
// to it (so that a change the kernel refuses leaves the slot as it was)
// asks first, then renews.
func Renewed(tok Token) Token { return Make(tok.Index(), nextGen(tok.Gen())) }

// Renew moves the generation of tok's slot on, keeping its value, and
// returns the new token: events carrying the old one become stale. It
// returns 0 when tok is stale.
func (t *Table[T]) Renew(tok Token) Token {
	if t.Get(tok) == nil {
		return 0
	}
	idx := tok.Index()
	e := t.at(idx)
	e.gen = nextGen(e.gen)
	return Make(idx, e.gen)
}

// Free releases tok's slot, zeroing its value so that whatever it referred
// to can be collected, and reports whether tok was live.
func (t *Table[T]) Free(tok Token) bool {
	if t.Get(tok) == nil {
		return false
	}
	idx := tok.Index()
	e := t.at(idx)
	var zero T
	e.v = zero
	e.live = false
	e.gen = nextGen(e.gen)
	t.free = append(t.free, idx)
	t.live--
	return true
}

// Range calls f for every live slot, in index order, until f returns false.
// f must not Alloc or Free.
func (t *Table[T]) Range(f func(tok Token, v *T) bool) {
	for idx := uint32(0); idx < t.next; idx++ {
		e := t.at(idx)
		if e.live && !f(Make(idx, e.gen), &e.v) {
			return
		}
	}
}
