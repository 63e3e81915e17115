package harness

import "fmt"

// Target is a goal a row's ratio must reach, such as "ours at least 0.95x
// C". The experiment states MinRatio; Section.Add judges the row and
// carries the verdict in it, so that the table, the JSON and compare all
// read the same judgement instead of a note to be interpreted.
type Target struct {
	MinRatio float64 `json:"min_ratio"` // met when the row's Ratio >= MinRatio
	Verdict  Verdict `json:"verdict"`
}

// Verdict is a target's judgement.
type Verdict string

const (
	Met    Verdict = "met"
	NotMet Verdict = "not met"
	// NotJudged: the row has no ratio (the reference figure was not
	// measured, the row's note says why), so nothing can be said.
	NotJudged Verdict = "not judged"
)

// AtLeast is the target of a ratio of at least min.
func AtLeast(min float64) *Target { return &Target{MinRatio: min} }

func (t *Target) judge(ratio float64) {
	switch {
	case ratio == 0:
		t.Verdict = NotJudged
	case ratio >= t.MinRatio:
		t.Verdict = Met
	default:
		t.Verdict = NotMet
	}
}

// String reads as the table's TARGET column: ">= 0.95x met".
func (t Target) String() string {
	return fmt.Sprintf(">= %gx %s", t.MinRatio, t.Verdict)
}
