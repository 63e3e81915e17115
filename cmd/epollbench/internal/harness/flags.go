package harness

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The comma-separated lists the subcommands take (-n 10,100,1000,
// -mech poll,epoll, -req 10us,1ms): an empty list, or an item out of
// range, is an error naming the flag.

// Ints parses a list of positive integers; "_" may group digits.
func Ints(flagName, s string) ([]int, error) {
	return list(flagName, s, func(f string) (int, error) {
		n, err := strconv.Atoi(strings.ReplaceAll(f, "_", ""))
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("-%s: %q is not a positive integer", flagName, f)
		}
		return n, nil
	})
}

// Names parses a list of names, each of which must be in known.
func Names(flagName, s string, known []string) ([]string, error) {
	return list(flagName, s, func(f string) (string, error) {
		if !slices.Contains(known, f) {
			return "", fmt.Errorf("-%s: unknown name %q (known: %s)", flagName, f, strings.Join(known, ", "))
		}
		return f, nil
	})
}

// Durations parses a list of positive durations ("10us", "3.1ms").
func Durations(flagName, s string) ([]time.Duration, error) {
	return list(flagName, s, func(f string) (time.Duration, error) {
		d, err := time.ParseDuration(f)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("-%s: %q is not a positive duration", flagName, f)
		}
		return d, nil
	})
}

func list[T any](flagName, s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := parse(f)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-%s: empty list", flagName)
	}
	return out, nil
}
