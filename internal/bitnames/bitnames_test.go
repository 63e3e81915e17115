package bitnames

import "testing"

func TestFormatNamesBitsInTableOrderAndUnnamedBitsLastInHex(t *testing.T) {
	names := []Name[uint32]{{4, "C"}, {1, "A"}, {2, "B"}}
	cases := []struct {
		v    uint32
		want string
	}{
		{0, "0"},
		{1, "A"},
		{1 | 4, "C|A"},
		{7, "C|A|B"},
		{0x30, "0x30"},
		{0x31, "A|0x30"},
	}
	for _, c := range cases {
		if got := Format(c.v, names); got != c.want {
			t.Errorf("Format(%#x) = %q, want %q", c.v, got, c.want)
		}
	}
}
