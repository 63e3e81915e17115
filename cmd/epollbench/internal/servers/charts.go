package servers

import (
	"fmt"
	"slices"
	"strings"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/chart"
)

// charts draws a bar chart per case family: a group of bars per case and
// placement, a bar per implementation. Echo and HTTP throughput are drawn
// relative to the best Go peer of each case, so that cases an order of
// magnitude apart (pipelined or not) share an axis and the target is one
// line; the open-loop p99s, idle memory and the connection rate in their
// own units.
func charts(gs []*group, b *builder) []chart.Chart {
	// An implementation keeps its colour from chart to chart.
	var everyone []string
	for _, fam := range families {
		for _, impl := range impls(gs, b, fam) {
			if !slices.Contains(everyone, impl) {
				everyone = append(everyone, impl)
			}
		}
	}
	var out []chart.Chart
	for _, fam := range families {
		var fg []*group
		for _, g := range gs {
			if g.family == fam {
				fg = append(fg, g)
			}
		}
		if len(fg) == 0 {
			continue
		}
		ch := chart.Chart{File: "servers-" + fam + ".svg", XLabel: "case and placement (loops: the server's)"}
		for _, g := range fg {
			ch.Categories = append(ch.Categories, strings.TrimPrefix(g.kase, fam+" ")+"\n"+strings.TrimPrefix(g.name(), g.kase+" "))
		}
		value := func(g *group, impl string) float64 { return g.find(impl).figure() }
		switch fam {
		case familyEcho, familyHTTP:
			ch.Title = fam + " throughput against the best Go peer of each case (higher is better)"
			ch.YLabel = "ops/s ÷ the best Go peer's"
			ch.Lines = []chart.Line{{Y: minVsBestGoPeer, Label: fmt.Sprintf("%s's target: %gx", b.oursName(), minVsBestGoPeer)}}
			value = func(g *group, impl string) float64 {
				best := g.find(g.bestGoPeer()).figure()
				if best <= 0 {
					return 0
				}
				return g.find(impl).figure() / best
			}
		case familyLatency:
			ch.Title = "p99 latency, every server offered the same rate (lower is better; a run that did not keep up is left out)"
			ch.YLabel = "p99 from each request's due time, us"
			value = func(g *group, impl string) float64 {
				if r := g.find(impl); r != nil && r.Overloaded == "" {
					return r.figure()
				}
				return 0
			}
		case familyIdle:
			ch.Title = "memory per idle connection: RSS growth ÷ connections (lower is better)"
			ch.YLabel = "bytes per connection"
		case familyConnRate:
			ch.Title = "connection rate: connect, one request, close (higher is better)"
			ch.YLabel = "connections per second"
		}
		for _, impl := range impls(fg, b, fam) {
			if s := chart.Bar(&ch, refName(impl), func(i int) float64 { return value(fg[i], impl) }); s != nil {
				s.Color = chart.Color(slices.Index(everyone, impl))
			}
		}
		out = append(out, ch)
	}
	return out
}

// impls are the implementations of family fam with a row in any of gs,
// in the driver's order: ours in its default mode only, but in every mode in the
// connection-rate case, where the modes are what is compared.
func impls(gs []*group, b *builder, fam string) []string {
	var names []string
	for _, g := range gs {
		if g.family != fam {
			continue
		}
		our := b.ourRow(g)
		for _, r := range g.rows {
			if fam != familyConnRate && b.isOurs(r.Impl) && r != our {
				continue
			}
			if !slices.Contains(names, r.Impl) {
				names = append(names, r.Impl)
			}
		}
	}
	return names
}
