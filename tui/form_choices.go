// The options and checks of the new-ceremony form's fields, made from
// the ledger, and where the scripts are saved.

package tui

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/huh/v2"

	"custos/ceremony"
	"custos/internal/ids"
	"custos/internal/termtext"
	"custos/ledger"
)

// keySelect offers the ledger's keys a ceremony of kind may take.
func keySelect(st *ledger.State, kind string, v *string, title string) *huh.Select[string] {
	var opts []huh.Option[string]
	for _, ks := range ceremony.KeysFor(st, kind) {
		opts = append(opts, huh.NewOption(fmt.Sprintf("%s · %s · id %s", termtext.Printable(ks.Label), termtext.Printable(ks.Type), ks.ID), ks.Label))
	}
	return huh.NewSelect[string]().Key("key").Title(title).Description("the ledger's live keys this ceremony may take").Options(opts...).Value(v)
}

// futureDate is a date, YYYY-MM-DD, today or later.
func (m *Model) futureDate(s string) error {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return errors.New("want a date like 2027-01-31")
	}
	if !d.After(m.opts.Now().AddDate(0, 0, -1)) {
		return errors.New("set a future date")
	}
	return nil
}

// nextLabel is a free label for the next version of label: its trailing
// number counted up (kek-2026 → kek-2027), else label-2, -3 ….
func nextLabel(st *ledger.State, label string) string {
	base, n := label, 1
	if m := trailingNumber.FindStringSubmatch(label); m != nil {
		base = m[1]
		n, _ = strconv.Atoi(m[2])
	} else {
		base += "-"
	}
	for i := n + 1; i < n+100; i++ {
		if l := base + strconv.Itoa(i); ids.Valid(l) && ceremony.LabelFree(st, l) {
			return l
		}
	}
	return ""
}

var trailingNumber = regexp.MustCompile(`^(.*?)([0-9]{1,6})$`)

// rotationChoices are periods up to the policy's for the key type; none
// only when the policy sets no period for it.
func rotationChoices(st *ledger.State, typ string) []huh.Option[string] {
	most := ledger.PeriodDays(st.Policy.Rotation[typ])
	var out []huh.Option[string]
	for _, p := range []string{"30d", "90d", "180d", "1y", "2y", "3y", "5y"} {
		if most == 0 || ledger.PeriodDays(p) <= most {
			out = append(out, huh.NewOption(p, p))
		}
	}
	if most == 0 {
		return append(out, huh.NewOption("none", noRotation))
	}
	if p := st.Policy.Rotation[typ]; !slices.ContainsFunc(out, func(o huh.Option[string]) bool { return ledger.PeriodDays(o.Value) == most }) {
		out = append(out, huh.NewOption(p, p))
	}
	return out
}

// noRotation is the choice of no rotation period (rotation left out).
const noRotation = "none"

func rotationNote(st *ledger.State, typ string) string {
	if p := st.Policy.Rotation[typ]; p != "" {
		return "the policy allows " + typ + " keys at most " + p
	}
	return "the policy sets no period for " + typ
}

func thresholdChoices(n int) []huh.Option[int] {
	var out []huh.Option[int]
	for m := 2; m <= max(2, n); m++ {
		out = append(out, huh.NewOption(fmt.Sprintf("%d of %d", m, n), m))
	}
	return out
}

// witnessChoices are the members, with their roles.
func witnessChoices(st *ledger.State) []huh.Option[string] {
	var out []huh.Option[string]
	for _, mem := range st.Roster.Members {
		out = append(out, huh.NewOption(mem.Name+" ("+strings.Join(mem.Roles, ",")+")", mem.Name))
	}
	return out
}

// pinSource is where a PIN is read. Masked as it is typed: a PIN typed
// here by mistake never shows; a file: path shows in the script.
func pinSource(title string, v *string) *huh.Input {
	return huh.NewInput().Title(title).Description("blank: typed at the masked prompt · or file:PATH (masked here)").
		EchoMode(huh.EchoModePassword).Value(v).Validate(func(s string) error {
		if s != "" && !strings.HasPrefix(s, "file:") {
			return errors.New("want file:PATH, or leave it blank; a PIN is never written in a script")
		}
		return nil
	})
}

// newPath is a path that must not exist yet: custos never writes over a file.
func newPath(title, desc string, v *string) *huh.Input {
	return huh.NewInput().Title(title).Description(desc).Value(v).Validate(func(p string) error {
		if strings.TrimSpace(p) == "" {
			return errors.New("required")
		}
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; custos never writes over a file", p)
		}
		return nil
	})
}

func required(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("required")
	}
	return nil
}

// freeCeremonyID is base, or base-2, base-3 … the first not used.
func freeCeremonyID(st *ledger.State, base string) string {
	if len(base) > ids.MaxLen-4 {
		base = base[:ids.MaxLen-4]
	}
	id := base
	for i := 2; ; i++ {
		if _, used := st.CeremonyUsed(id); !used {
			return id
		}
		id = base + "-" + strconv.Itoa(i)
	}
}

// workspace is where scripts are saved.
func (m *Model) workspace() string {
	if m.opts.Workspace != "" {
		return m.opts.Workspace
	}
	if wd, err := os.Getwd(); err == nil {
		return wd
	}
	return "."
}

// wsPath is a script's file name in the workspace (an absolute one as is).
func (m *Model) wsPath(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(m.workspace(), name)
}

// freeFile is name, or NAME-2.yaml … the first not in the workspace.
func (m *Model) freeFile(name string) string {
	base := strings.TrimSuffix(name, ".yaml")
	for i := 2; ; i++ {
		if _, err := os.Lstat(m.wsPath(name)); err != nil {
			return name
		}
		name = fmt.Sprintf("%s-%d.yaml", base, i)
	}
}
