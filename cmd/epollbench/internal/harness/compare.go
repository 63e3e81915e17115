package harness

// epollbench compare old.json new.json: the same rows of two reports side
// by side, with how much each moved.

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// CompareRow is one case found in either report.
type CompareRow struct {
	Experiment, Case, RefName, Unit string
	Old, New                        float64
	InOld, InNew                    bool
	LowerIsBetter                   bool
	Target                          *Target // the new report's, else the old one's
}

// Change is new/old (old/new for lower-is-better units): above 1 means the
// new report is better. 0 when either side is missing or zero.
func (r CompareRow) Change() float64 {
	if !r.InOld || !r.InNew || r.Old == 0 || r.New == 0 {
		return 0
	}
	if r.LowerIsBetter {
		return r.Old / r.New
	}
	return r.New / r.Old
}

// CompareRows pairs the rows of old and new by experiment, case and
// reference (one case may be set against several references), in the order
// of new, then the rows only old has.
func CompareRows(old, new *Report) []CompareRow {
	type key struct{ exp, cs, ref string }
	var rows []CompareRow
	idx := map[key]int{}
	for _, s := range new.Sections {
		for _, r := range s.Rows {
			k := key{r.Experiment, r.Case, r.RefName}
			if _, dup := idx[k]; dup {
				continue
			}
			idx[k] = len(rows)
			rows = append(rows, CompareRow{Experiment: r.Experiment, Case: r.Case, RefName: r.RefName, Unit: r.Unit,
				New: r.Ours, InNew: true, LowerIsBetter: r.LowerIsBetter, Target: r.Target})
		}
	}
	for _, s := range old.Sections {
		for _, r := range s.Rows {
			k := key{r.Experiment, r.Case, r.RefName}
			i, ok := idx[k]
			if !ok {
				idx[k] = len(rows)
				rows = append(rows, CompareRow{Experiment: r.Experiment, Case: r.Case, RefName: r.RefName, Unit: r.Unit,
					Old: r.Ours, InOld: true, LowerIsBetter: r.LowerIsBetter, Target: r.Target})
				continue
			}
			if !rows[i].InOld {
				rows[i].Old, rows[i].InOld = r.Ours, true
			}
		}
	}
	return rows
}

// Compare is epollbench compare: args are the old and the new report's
// JSON files; the table goes to stdout.
func Compare(args []string, stdout io.Writer) error {
	if len(args) != 2 {
		return fmt.Errorf("compare: want two files: epollbench compare old.json new.json")
	}
	old, err := Load(args[0])
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	new, err := Load(args[1])
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	fmt.Fprintf(stdout, "old: %s  %s, %s, %d CPUs\n", args[0], old.Started, old.Machine.Kernel, old.Machine.CPUs)
	fmt.Fprintf(stdout, "new: %s  %s, %s, %d CPUs\n\n", args[1], new.Started, new.Machine.Kernel, new.Machine.CPUs)
	printCompare(stdout, CompareRows(old, new))
	return nil
}

// printCompare prints the paired rows: each side's figure, how much it
// moved, and the target.
func printCompare(w io.Writer, rows []CompareRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "EXPERIMENT\tCASE\tVS\tOLD\tNEW\tNEW/OLD\tTARGET\n")
	for _, r := range rows {
		o, n, ch, tg := "-", "-", "-", "-"
		if r.Target != nil {
			tg = r.Target.String()
		}
		if r.InOld {
			o = Figure(r.Old, r.Unit)
		}
		if r.InNew {
			n = Figure(r.New, r.Unit)
		}
		if c := r.Change(); c != 0 {
			ch = fmt.Sprintf("%.2fx", c)
		} else if !r.InOld {
			ch = "new row"
		} else if !r.InNew {
			ch = "gone"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Experiment, r.Case, or(r.RefName, "-"), o, n, ch, tg)
	}
	tw.Flush()
	fmt.Fprintln(w, "NEW/OLD above 1 means the new report is better (for lower-is-better units it is old/new).")
}
