package driver

import (
	"os"
	"slices"
	"testing"
)

func TestCURingRunsOnlyWhenNamed(t *testing.T) {
	for _, c := range []struct {
		impls []string
		want  bool
	}{{nil, false}, {[]string{"c"}, false}, {[]string{"c", cURing}, true}} {
		e, err := newEnv(Options{Impls: c.impls, Server: []string{os.Args[0]}})
		if err != nil {
			t.Fatal(err)
		}
		got := slices.ContainsFunc(e.impls, func(im *impl) bool { return im.name == cURing })
		e.close()
		if got != c.want {
			t.Errorf("-impls %q: c-uring in the run %v, want %v", c.impls, got, c.want)
		}
	}
}
