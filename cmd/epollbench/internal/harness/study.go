package harness

import (
	"flag"
	"io"
)

// Study is an experiment that measures one configuration C in one run and
// reads everything it shows off the run's result R: the subcommand prints
// R as a table, the standard report turns it into a section. The
// experiment states what differs (its flags, the report's configuration,
// the run, the table, the rows) and Experiment makes the subcommand and the
// section of them, so that no experiment writes the run-then-show sequence
// again.
type Study[C Measurer[R], R Presenter[C]] struct {
	Name    string // subcommand and section name
	Summary string // one line for the usage text
	About   string // what the subcommand measures, printed above its flags by -h

	// Flags declares the subcommand's flags on fs and returns the function
	// that makes their configuration, with progress to log, once fs has
	// parsed the command line; its error is a flag value refused.
	Flags func(fs *flag.FlagSet) func(log Log) (C, error)

	// Config is the configuration of the standard report's short form
	// (see Experiment.Report for what Options.Quick asks of it).
	Config func(opts Options) C
}

// Measurer is a Study's configuration: it measures itself.
type Measurer[R any] interface {
	Run() (R, error)
}

// Presenter is a Study's result, shown as the configuration cfg that
// measured it asks: Print writes the subcommand's table; Report adds to
// sec, which holds the study's name and the result as Raw already, its
// parameters, rows, charts and notes.
type Presenter[C any] interface {
	Print(out io.Writer, cfg C)
	Report(sec *Section, cfg C)
}

// Experiment returns s as a subcommand that runs the configuration of its
// flags and prints the table, and as a section of the standard report
// that runs the short form's configuration and returns its Section. A
// failed run fails both, with nothing printed or shown.
func (s Study[C, R]) Experiment() Experiment {
	return Experiment{Name: s.Name, Summary: s.Summary, About: s.About, Flags: s.command, Report: s.report}
}

// command is the Experiment's Flags.
func (s Study[C, R]) command(fs *flag.FlagSet) Runner {
	configure := s.Flags(fs)
	return func(out io.Writer, log Log) error {
		cfg, err := configure(log)
		if err != nil {
			return err
		}
		res, err := cfg.Run()
		if err != nil {
			return err
		}
		res.Print(out, cfg)
		return nil
	}
}

// report is the Experiment's Report.
func (s Study[C, R]) report(opts Options) (Section, error) {
	cfg := s.Config(opts)
	res, err := cfg.Run()
	if err != nil {
		return Section{}, err
	}
	return s.Section(res, cfg), nil
}

// Section is the report's section of res, measured with cfg.
func (s Study[C, R]) Section(res R, cfg C) Section {
	sec := Section{Experiment: s.Name, Raw: res}
	res.Report(&sec, cfg)
	return sec
}
