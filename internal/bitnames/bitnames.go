// Package bitnames prints a set of kernel flag bits as their names joined
// by "|", the one format of epoll.Events.String and source.WatchOp.String.
package bitnames

import (
	"strconv"
	"strings"
)

// Name pairs one flag bit with the kernel's name for it.
type Name[T ~uint32] struct {
	Bit  T
	Name string
}

// Format returns the names of the bits of v that names lists, in the order
// of names, joined by "|". Bits without a name are printed as one
// hexadecimal number (0x...) at the end; the empty set is "0".
func Format[T ~uint32](v T, names []Name[T]) string {
	if v == 0 {
		return "0"
	}
	var b strings.Builder
	rest := v
	for _, n := range names {
		if v&n.Bit == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(n.Name)
		rest &^= n.Bit
	}
	if rest != 0 {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString("0x")
		b.WriteString(strconv.FormatUint(uint64(rest), 16))
	}
	return b.String()
}
