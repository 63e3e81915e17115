package token

import (
	"testing"
)

func TestFreedTokenIsStaleAndItsSlotReusedWithNewGeneration(t *testing.T) {
	tb := New[int](0)
	a, v, ok := tb.Alloc()
	if !ok || v == nil {
		t.Fatal("Alloc failed")
	}
	*v = 42
	if p := tb.Get(a); p == nil || *p != 42 {
		t.Fatalf("Get(a) = %v", p)
	}
	if !tb.Free(a) {
		t.Fatal("Free(a) = false")
	}
	if tb.Get(a) != nil {
		t.Fatal("freed token still resolves")
	}
	if tb.Free(a) {
		t.Fatal("double Free succeeded")
	}
	b, v2, _ := tb.Alloc()
	if b.Index() != a.Index() {
		t.Fatalf("slot not reused: %d then %d", a.Index(), b.Index())
	}
	if b == a || b.Gen() == a.Gen() {
		t.Fatalf("reused slot kept generation: %x %x", a, b)
	}
	if *v2 != 0 {
		t.Fatalf("reused slot not zeroed: %d", *v2)
	}
	if tb.Get(a) != nil {
		t.Fatal("old token resolves to the new registration")
	}
}

func TestRenewMakesOldTokenStaleAndKeepsValue(t *testing.T) {
	tb := New[string](0)
	a, v, _ := tb.Alloc()
	*v = "x"
	want := Renewed(a)
	b := tb.Renew(a)
	if b != want {
		t.Fatalf("Renew = %x, Renewed said %x", b, want)
	}
	if b == 0 || b == a {
		t.Fatalf("Renew = %x", b)
	}
	if tb.Get(a) != nil {
		t.Fatal("renewed-from token still resolves")
	}
	if p := tb.Get(b); p == nil || *p != "x" {
		t.Fatal("renewed token lost the value")
	}
	if tb.Renew(a) != 0 {
		t.Fatal("Renew of a stale token succeeded")
	}
}

func TestZeroAndInternalTokensNeverResolve(t *testing.T) {
	tb := New[int](0)
	tok, _, _ := tb.Alloc()
	if tb.Get(0) != nil {
		t.Fatal("token 0 resolves")
	}
	if tb.Get(tok|Internal) != nil {
		t.Fatal("a token with the internal bit resolves")
	}
	if tb.Get(Make(999, 1)) != nil {
		t.Fatal("a never-allocated index resolves")
	}
}

func TestTableIsBoundedByMax(t *testing.T) {
	tb := New[int](3)
	var toks []Token
	for i := 0; i < 3; i++ {
		tok, _, ok := tb.Alloc()
		if !ok {
			t.Fatalf("Alloc %d failed", i)
		}
		toks = append(toks, tok)
	}
	if _, _, ok := tb.Alloc(); ok {
		t.Fatal("Alloc past max succeeded")
	}
	tb.Free(toks[1])
	if _, _, ok := tb.Alloc(); !ok {
		t.Fatal("Alloc after Free failed")
	}
	if tb.Len() != 3 {
		t.Fatalf("Len = %d", tb.Len())
	}
}

func TestPointersStayValidAcrossGrowth(t *testing.T) {
	tb := New[int](0)
	tok, v, _ := tb.Alloc()
	*v = 7
	for i := 0; i < 10*pageSize; i++ {
		tb.Alloc()
	}
	if *v != 7 || tb.Get(tok) != v {
		t.Fatal("a value moved when the table grew")
	}
}

func TestGenerationWrapSkipsZero(t *testing.T) {
	tb := New[int](0)
	tok, _, _ := tb.Alloc()
	tb.at(tok.Index()).gen = genMask
	tok = Make(tok.Index(), genMask)
	n := tb.Renew(tok)
	if n.Gen() != 1 {
		t.Fatalf("generation after %d = %d, want 1", genMask, n.Gen())
	}
}

func TestRangeVisitsLiveSlotsOnly(t *testing.T) {
	tb := New[int](0)
	a, va, _ := tb.Alloc()
	b, _, _ := tb.Alloc()
	c, vc, _ := tb.Alloc()
	*va, *vc = 1, 3
	tb.Free(b)
	var got []Token
	tb.Range(func(tok Token, v *int) bool { got = append(got, tok); return true })
	if len(got) != 2 || got[0] != a || got[1] != c {
		t.Fatalf("Range visited %x", got)
	}
}

func TestSteadyStateAllocatesNothing(t *testing.T) {
	tb := New[int](0)
	tok, _, _ := tb.Alloc()
	tb.Free(tok)
	if a := testing.AllocsPerRun(1000, func() {
		tok, _, _ := tb.Alloc()
		tb.Get(tok)
		tb.Free(tok)
	}); a != 0 {
		t.Fatalf("Alloc/Get/Free allocates %v times", a)
	}
}

func FuzzTableMatchesModel(f *testing.F) {
	f.Add([]byte{0, 0, 1, 2, 0, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		tb := New[int](8)
		model := map[Token]int{}
		var dead []Token
		var live []Token
		for i, op := range ops {
			switch op % 4 {
			case 0:
				tok, v, ok := tb.Alloc()
				if ok != (len(model) < 8) {
					t.Fatalf("op %d: Alloc ok=%v with %d live", i, ok, len(model))
				}
				if ok {
					*v = i
					model[tok] = i
					live = append(live, tok)
				}
			case 1, 2:
				if len(live) == 0 {
					continue
				}
				k := int(op/4) % len(live)
				tok := live[k]
				live = append(live[:k], live[k+1:]...)
				delete(model, tok)
				dead = append(dead, tok)
				if op%4 == 1 {
					tb.Free(tok)
				} else {
					n := tb.Renew(tok)
					model[n] = *tb.Get(n)
					live = append(live, n)
				}
			case 3:
				for _, d := range dead {
					if tb.Get(d) != nil {
						t.Fatalf("op %d: stale token %x resolves", i, d)
					}
				}
			}
			for tok, v := range model {
				if p := tb.Get(tok); p == nil || *p != v {
					t.Fatalf("op %d: live token %x lost its value", i, tok)
				}
			}
			if tb.Len() != len(model) {
				t.Fatalf("op %d: Len %d, model %d", i, tb.Len(), len(model))
			}
		}
	})
}
