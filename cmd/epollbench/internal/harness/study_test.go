package harness

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"testing"
)

// studyConfig and studyResult are the smallest Study: a run doubles N.
type studyConfig struct {
	N    int
	Fail error
}

type studyResult struct{ Doubled int }

func (c studyConfig) Run() (*studyResult, error) {
	if c.Fail != nil {
		return nil, c.Fail
	}
	return &studyResult{2 * c.N}, nil
}

func (r *studyResult) Print(out io.Writer, c studyConfig) {
	fmt.Fprintf(out, "%d doubled is %d\n", c.N, r.Doubled)
}

func (r *studyResult) Report(sec *Section, c studyConfig) {
	sec.Add(Row{Case: fmt.Sprintf("N=%d", c.N), Ours: float64(r.Doubled), Unit: "x"})
}

func newStudy(report studyConfig) Study[studyConfig, *studyResult] {
	return Study[studyConfig, *studyResult]{
		Name: "double",
		Flags: func(fs *flag.FlagSet) func(Log) (studyConfig, error) {
			n := fs.Int("n", 1, "what to double")
			return func(Log) (studyConfig, error) {
				if *n < 0 {
					return studyConfig{}, errors.New("-n: negative")
				}
				return studyConfig{N: *n}, nil
			}
		},
		Config: func(Options) studyConfig { return report },
	}
}

func TestStudyCommandRunsTheFlagsConfigurationAndPrintsIt(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := Command(newStudy(studyConfig{}).Experiment(), []string{"-n", "21"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if out.String() != "21 doubled is 42\n" {
		t.Errorf("printed %q, want the result of -n 21", out.String())
	}
	if err := Command(newStudy(studyConfig{}).Experiment(), []string{"-n", "-1"}, &out, &errOut); err == nil {
		t.Error("a configuration refused by the flags' function ran")
	}
}

func TestStudySectionHoldsItsNameTheResultAndItsRows(t *testing.T) {
	sec, err := newStudy(studyConfig{N: 5}).Experiment().Report(Options{Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Experiment != "double" || len(sec.Rows) != 1 || sec.Rows[0].Experiment != "double" || sec.Rows[0].Ours != 10 {
		t.Errorf("section %+v: want the study's name on it and its row", sec)
	}
	if raw, ok := sec.Raw.(*studyResult); !ok || raw.Doubled != 10 {
		t.Errorf("Raw = %#v, want the run's result", sec.Raw)
	}
}

func TestStudyFailedRunShowsNothing(t *testing.T) {
	broke := errors.New("broke")
	s := newStudy(studyConfig{Fail: broke})
	sec, err := s.Experiment().Report(Options{})
	if !errors.Is(err, broke) || sec.Experiment != "" || sec.Rows != nil {
		t.Errorf("Report = %+v, %v; want no section and the run's error", sec, err)
	}
	s.Flags = func(*flag.FlagSet) func(Log) (studyConfig, error) {
		return func(Log) (studyConfig, error) { return studyConfig{Fail: broke}, nil }
	}
	var out bytes.Buffer
	if err := Command(s.Experiment(), nil, &out, io.Discard); !errors.Is(err, broke) || out.Len() != 0 {
		t.Errorf("command = %v, printed %q; want the run's error and nothing printed", err, out.String())
	}
}
