package harness

import (
	"bytes"
	"context"
	"encoding/xml"
	"html"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/chart"
)

// pageReport is a report with what the page must show: rows with and
// without a reference, every verdict, a figure not measured, text that
// must be escaped, a line chart and a bar chart, notes.
func pageReport(t *testing.T) *Report {
	t.Helper()
	one, _ := fake("wait", 96, 100, nil).Report(Options{})
	two, _ := fake("ctl", 90, 100, nil).Report(Options{})
	srv := Section{Experiment: "servers", Notes: []string{"eventpoll's server is not in the run <yet> & so nothing is judged"}}
	srv.Add(Row{Case: "echo 64B c100 loops=1 <&>", Unit: "msg/s", RefName: "gnet", Ref: 150e3,
		RefNote: "eventpoll's server not in the run", Target: AtLeast(1.1)})
	srv.Add(Row{Case: "idle c2000 loops=1", Ours: 900, Unit: "B/conn", RefName: "gnet", Ref: 3000, LowerIsBetter: true, Target: AtLeast(2)})
	bars := chart.Chart{File: "servers-echo.svg", Title: "echo", XLabel: "case", YLabel: "x best Go peer",
		Categories: []string{"64B c100\nloops=1", "64B c100\nloops=all"}, Lines: []chart.Line{{Y: 1.1, Label: "target"}}}
	chart.Bar(&bars, "gnet", func(int) float64 { return 1 })
	chart.Bar(&bars, "c", func(i int) float64 { return 0.8 + 0.3*float64(i) })
	srv.Charts = []chart.Chart{bars}
	rep := &Report{Schema: Schema, Started: "2026-12-02T10:00:00Z", Elapsed: 221.4,
		Machine:  Machine{Kernel: "6.18.44-test", CPUs: 2, Model: "AMD EPYC", Go: "go1.26.8"},
		Sections: []Section{one, two, srv}}
	for _, s := range rep.Sections {
		for _, r := range s.Rows {
			if r.Experiment == "" {
				t.Fatalf("row %q has no experiment", r.Case)
			}
		}
	}
	return rep
}

// parsedPage is what a reader of the page sees, as parsed.
type parsedPage struct {
	tables    map[string][][]string // section id -> rows of the table's body, cell texts
	svgs      int
	captions  []string
	text      string   // all character data
	externals []string // anything that would load from outside the file
}

// parsePage parses the page as XML (strict: the page is well-formed) and
// collects the tables, charts and references to other resources.
func parsePage(t *testing.T, b []byte) parsedPage {
	t.Helper()
	p := parsedPage{tables: map[string][][]string{}}
	d := xml.NewDecoder(bytes.NewReader(b))
	var section string
	var row []string
	var cell, caption *strings.Builder
	var inBody, inStyle bool
	var all strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return p
		}
		if err != nil {
			t.Fatalf("the page is not well-formed: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			for _, a := range tok.Attr {
				if a.Name.Local == "src" || (a.Name.Local == "href" && !strings.HasPrefix(a.Value, "#")) {
					p.externals = append(p.externals, tok.Name.Local+" "+a.Name.Local+"="+a.Value)
				}
				if tok.Name.Local == "section" && a.Name.Local == "id" {
					section = a.Value
				}
			}
			switch tok.Name.Local {
			case "script", "link", "img", "iframe", "object", "embed":
				p.externals = append(p.externals, "<"+tok.Name.Local+">")
			case "style":
				inStyle = true
			case "tbody":
				inBody = true
			case "tr":
				row = nil
			case "td":
				cell = &strings.Builder{}
			case "svg":
				p.svgs++
			case "figcaption":
				caption = &strings.Builder{}
			}
		case xml.EndElement:
			switch tok.Name.Local {
			case "style":
				inStyle = false
			case "tbody":
				inBody = false
			case "td":
				row = append(row, strings.TrimSpace(cell.String()))
				cell = nil
			case "tr":
				if inBody {
					p.tables[section] = append(p.tables[section], row)
				}
			case "figcaption":
				p.captions = append(p.captions, caption.String())
				caption = nil
			}
		case xml.CharData:
			if inStyle && (bytes.Contains(tok, []byte("url(")) || bytes.Contains(tok, []byte("@import"))) {
				p.externals = append(p.externals, "style: "+string(tok))
			}
			for _, w := range []*strings.Builder{cell, caption} {
				if w != nil {
					w.Write(tok)
				}
			}
			all.Write(tok)
			p.text = all.String()
		}
	}
}

func writePage(t *testing.T, rep *Report) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	paths, err := WriteHTML(dir, rep)
	if err != nil || len(paths) != 1 || paths[0] != filepath.Join(dir, PageFile) {
		t.Fatalf("WriteHTML: %v, %v", paths, err)
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	return paths[0], b
}

func TestPageHoldsEveryRowChartNoteAndTheMachineInOneFile(t *testing.T) {
	rep := pageReport(t)
	_, b := writePage(t, rep)
	p := parsePage(t, b)
	if len(p.externals) > 0 {
		t.Errorf("the page loads from outside itself: %q", p.externals)
	}
	charts := 0
	for _, s := range rep.Sections {
		rows := p.tables[s.Experiment]
		if len(rows) != len(s.Rows) {
			t.Fatalf("section %s: %d table rows, want %d", s.Experiment, len(rows), len(s.Rows))
		}
		for i, r := range s.Rows {
			cells := rows[i]
			if len(cells) != 8 || cells[0] != r.Case || cells[2] != r.RefName || cells[7] != r.RefNote {
				t.Errorf("%s row %d: cells %q, want case %q, reference %q, note %q", s.Experiment, i, cells, r.Case, r.RefName, r.RefNote)
				continue
			}
			if want := Figure(r.Ours, r.Unit); r.Ours != 0 && cells[1] != want {
				t.Errorf("%s %q: ours %q, want %q", s.Experiment, r.Case, cells[1], want)
			}
			if r.Ours == 0 && cells[1] != "–" {
				t.Errorf("%s %q: a figure not measured shows %q, want a dash", s.Experiment, r.Case, cells[1])
			}
			// The verdict is a shape and a word, never a colour alone.
			want := ""
			if r.Target != nil {
				want = marks[r.Target.Verdict] + " " + string(r.Target.Verdict)
			}
			if cells[6] != want {
				t.Errorf("%s %q: verdict cell %q, want %q", s.Experiment, r.Case, cells[6], want)
			}
		}
		for _, n := range s.Notes {
			if !strings.Contains(p.text, n) {
				t.Errorf("note %q missing", n)
			}
		}
		charts += len(s.Charts)
	}
	if p.svgs != charts || len(p.captions) != charts {
		t.Errorf("%d <svg> and %d captions for %d charts", p.svgs, len(p.captions), charts)
	}
	for _, want := range []string{"6.18.44-test", "AMD EPYC", "go1.26.8", "2026-12-02 10:00 UTC", "3m41s", "not installed",
		"✔ 2 met", "✘ 1 not met", "○ 3 not judged"} {
		if !strings.Contains(strings.Join(strings.Fields(p.text), " "), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// The page as a browser shows it: headless Chromium (Debian's package)
// lays it out, its DOM holds every row and a drawing per chart, and a
// screenshot of it is not blank.
func TestPageRendersInChromium(t *testing.T) {
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("chromium is not installed (apt-get install chromium): the page is not rendered")
	}
	rep := pageReport(t)
	path, _ := writePage(t, rep)
	dom := runChromium(t, browser, "--dump-dom", "file://"+path)
	charts := 0
	for _, s := range rep.Sections {
		for _, r := range s.Rows {
			if !strings.Contains(dom, `<td class="case">`+html.EscapeString(r.Case)+`</td>`) {
				t.Errorf("the rendered page lacks the row %q", r.Case)
			}
		}
		charts += len(s.Charts)
	}
	if n := strings.Count(dom, "<svg "); n != charts {
		t.Errorf("the rendered page has %d <svg>, want %d", n, charts)
	}
	shot := filepath.Join(t.TempDir(), "page.png")
	runChromium(t, browser, "--screenshot="+shot, "--window-size=1400,2400", "--hide-scrollbars", "file://"+path)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if inked, colours := ink(img); inked < 0.02 || colours < 8 {
		t.Errorf("the screenshot looks blank: %.1f%% of pixels not white, %d colours", 100*inked, colours)
	}
}

// runChromium runs the browser headless on a profile of its own with
// nothing reaching the network, and returns its standard output.
func runChromium(t *testing.T, browser string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, browser, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %q: %v\n%s", browser, args, err, stderr.String())
	}
	return stdout.String()
}

// ink measures an image: the share of pixels that are not white, and how
// many colours it has (up to 64).
func ink(img image.Image) (float64, int) {
	b := img.Bounds()
	inked, total := 0, 0
	colours := map[[3]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			total++
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				inked++
			}
			if len(colours) < 64 {
				colours[[3]uint32{r >> 12, g >> 12, bl >> 12}] = true
			}
		}
	}
	return float64(inked) / float64(max(total, 1)), len(colours)
}
