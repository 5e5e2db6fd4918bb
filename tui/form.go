// New ceremony, from the TUI: a form (charm.land/huh) that offers only
// the choices the ledger allows, writes the ceremony script it makes (the
// same YAML custos run reads, checked with the same strict decoder, saved
// in the working directory under a name the custodian sees, never over a
// file), shows it, and then plans it like any script: the plan, the
// people, the steps, the outcome. The script stays the artefact reviewed
// and kept with the minutes. The fields are in form_fields.go.

package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/huh/v2"
	"github.com/charmbracelet/x/ansi"

	"custos/ceremony"
	"custos/internal/hint"
	"custos/internal/termtext"
)

// Stages of the form: the kind, then its fields, then the names.
const (
	stageKind = iota
	stageDetails
	stageNames
)

// formState is one script being made at the screen.
type formState struct {
	v     formValues
	stage int
	f     *huh.Form
	hsms  []ceremony.EnrolledHSM
	// backups a restore may name
	backups []ceremony.RestorableBackup
	w, h    int // the size the form was laid out for

	yaml  []byte // the script, once made
	saved string // the file it was saved as
}

// formSavedMsg is a script written and planned.
type formSavedMsg struct {
	path, sha string
	plan      planMsg
	err       error // writing failed; nothing was written
}

// startForm opens the form on Home (n).
func (m *Model) startForm() tea.Cmd {
	if p := m.led.State().Pending(); p != nil {
		// Plan would refuse the script: say so before it is written.
		m.fail(hint.With(fmt.Errorf("ceremony %s was interrupted: no new one begins until it is finished", p.Ceremony),
			"u resumes it here (custos resume --ledger "+m.dir+")"))
		return nil
	}
	hsms, err := ceremony.EnrolledHSMs(m.led, "")
	if err != nil {
		m.fail(err)
		return nil
	}
	backups, err := ceremony.RestorableBackups(m.led)
	if err != nil {
		m.fail(err)
		return nil
	}
	m.status = ""
	m.form = &formState{hsms: hsms, backups: backups}
	if len(hsms) > 0 {
		m.form.v.serial = hsms[0].Serial
	}
	m.form.v.shareDir = "shares"
	m.form.v.signWhat = ceremony.SignDetached
	m.form.v.expires = m.opts.Now().AddDate(0, 0, 30).Format("2006-01-02")
	m.form.v.retireOn = m.opts.Now().AddDate(0, 0, 90).Format("2006-01-02")
	m.goTo(scrForm)
	return m.openStage(stageKind)
}

// openStage builds the huh form of a stage; the answers so far stay.
func (m *Model) openStage(stage int) tea.Cmd {
	fs := m.form
	fs.stage = stage
	v := &fs.v
	var groups []*huh.Group
	switch stage {
	case stageKind:
		groups = m.kindGroups(v, fs.backups, len(fs.hsms) > 0)
	case stageDetails:
		groups = m.detailGroups(v, fs.hsms)
	case stageNames:
		groups = []*huh.Group{m.nameGroup(v)}
	}
	theme := huh.ThemeFunc(huh.ThemeCharm)
	if m.opts.NoColor {
		theme = huh.ThemeFunc(huh.ThemeBase)
	}
	fs.f = huh.NewForm(groups...).WithTheme(theme).WithShowHelp(false).WithShowErrors(true)
	fs.w, fs.h = 0, 0
	m.layoutForm()
	return fs.f.Init()
}

// layoutForm fits the form to the body when the terminal's size changed.
func (m *Model) layoutForm() {
	fs := m.form
	w, h := max(20, m.width-4), max(6, m.bodyHeight()-4)
	if fs.w != w || fs.h != h {
		fs.w, fs.h = w, h
		fs.f.WithWidth(w).WithHeight(h)
	}
}

// formMsg routes a message to the form while it is on the screen, and
// takes the answer of a save.
func (m *Model) formMsg(msg tea.Msg) (tea.Cmd, bool) {
	if msg, ok := msg.(formSavedMsg); ok {
		return m.onFormSaved(msg), true
	}
	if m.screen != scrForm || m.form == nil {
		return nil, false
	}
	if k, ok := msg.(tea.KeyPressMsg); ok {
		if k.String() == "esc" {
			m.form = nil
			m.say("new ceremony left; nothing was written")
			m.goTo(scrHome)
			return nil, true
		}
	}
	fs := m.form
	nf, cmd := fs.f.Update(msg)
	if f, ok := nf.(*huh.Form); ok {
		fs.f = f
	}
	if fs.f.State != huh.StateCompleted {
		return cmd, true
	}
	switch fs.stage {
	case stageKind:
		if fs.v.kind == "" {
			return m.openStage(stageKind), true
		}
		m.prefill(&fs.v, fs.backups)
		return m.openStage(stageDetails), true
	case stageDetails:
		return m.openStage(stageNames), true
	}
	return m.makeScript(), true
}

// makeScript turns the answers into the script and shows it.
func (m *Model) makeScript() tea.Cmd {
	fs := m.form
	s, err := m.script(&fs.v)
	if err == nil {
		fs.yaml, err = ceremony.MarshalScript(s, m.scriptHead(&fs.v)...)
	}
	if err != nil {
		m.fail(err)
		return m.openStage(stageDetails)
	}
	m.status = ""
	m.goTo(scrFormReview)
	return nil
}

func (m *Model) scriptHead(v *formValues) []string {
	return []string{
		fmt.Sprintf("%s ceremony, written by custos tui, %s,", v.kind, m.opts.Now().UTC().Format("2006-01-02 15:04 UTC")),
		"for ledger " + m.led.State().LedgerID + ". Read it before it runs.",
	}
}

// keyFormReview: enter saves the script (never over a file) and plans it;
// e edits the answers again; esc leaves, nothing written.
func (m *Model) keyFormReview(msg tea.KeyPressMsg) tea.Cmd {
	fs := m.form
	switch {
	case key.Matches(msg, Keys.Enter):
		return m.saveScript()
	case msg.String() == "e":
		if fs.v.file != fs.v.autoFile {
			fs.v.file = m.freeFile(fs.v.file) // a file there now stays as it is
		}
		fs.saved = ""
		m.status = ""
		m.goTo(scrForm)
		return m.openStage(stageDetails)
	case key.Matches(msg, Keys.Back):
		m.form = nil
		m.say("new ceremony left; nothing was run")
		m.goTo(scrHome)
	default:
		m.scrollKeys(msg)
	}
	return nil
}

// saveScript writes the script (O_EXCL) unless it is already saved, then
// plans it from the file, exactly as a script typed by path is.
func (m *Model) saveScript() tea.Cmd {
	fs := m.form
	path, data, saved := m.wsPath(fs.v.file), fs.yaml, fs.saved != ""
	m.busy = "saving the script and checking it against the ledger"
	l, br := m.led, m.br
	return func() tea.Msg {
		if !saved {
			if _, err := ceremony.WriteScriptFile(path, data); err != nil {
				return formSavedMsg{path: path, err: err}
			}
		}
		s, err := ceremony.LoadScript(path)
		if err != nil {
			return formSavedMsg{path: path, plan: planMsg{err: err}}
		}
		e := quietEngine(&ceremony.Engine{Ledger: l, Script: s, Prompt: br, Progress: br, Cards: tuiCards{br}})
		p, err := e.Plan()
		return formSavedMsg{path: path, sha: s.SHA256, plan: planMsg{eng: e, plan: p, err: err}}
	}
}

func (m *Model) onFormSaved(msg formSavedMsg) tea.Cmd {
	m.busy = ""
	fs := m.form
	if msg.err != nil {
		m.fail(fmt.Errorf("%w (e: choose another name)", msg.err))
		return nil
	}
	if fs != nil {
		fs.saved = msg.path
	}
	if msg.plan.err != nil {
		m.fail(fmt.Errorf("%s is saved, but the ledger refuses it: %w (e: edit, into a new file)", msg.path, msg.plan.err))
		return nil
	}
	cmd, _ := m.engineMsg(msg.plan)
	m.form = nil
	// whole, in groups of four: the minutes carry the script's SHA-256
	m.say("script saved as %s, sha256 %s; the plan is read from it", msg.path, termtext.HexGroups(msg.sha))
	return cmd
}

// formBody draws the form, or the script it made.
func (m *Model) formBody() ([]string, string) {
	s, fs := m.st, m.form
	if fs == nil {
		return nil, "esc: home"
	}
	if m.screen == scrFormReview {
		out := []string{s.Heading.Render("The script the form wrote — read it before it runs"), ""}
		where := "to be saved as " + m.wsPath(fs.v.file) + " (never over a file)"
		if fs.saved != "" {
			where = "saved as " + fs.saved
		}
		// Wrapped, not cut: every character of the script is read.
		w := max(20, m.width-4)
		for _, l := range strings.Split(ansi.Wrap(where, w, "/"), "\n") {
			out = append(out, "  "+s.Dim.Render(l))
		}
		out = append(out, "")
		for _, l := range strings.Split(strings.TrimRight(string(fs.yaml), "\n"), "\n") {
			for i, p := range strings.Split(ansi.Hardwrap(l, w, false), "\n") {
				if i > 0 {
					p = s.Dim.Render("↪ ") + p
				}
				out = append(out, "  "+p)
			}
		}
		f := "enter: save it and see the plan · e: edit · esc: leave · ↑/↓: scroll"
		if fs.saved != "" {
			f = "enter: plan it again · e: edit into a new file · esc: leave"
		}
		return out, f
	}
	m.layoutForm()
	title := "New ceremony"
	if fs.v.kind != "" && fs.stage > stageKind {
		title += ": " + fs.v.kind
	}
	out := []string{s.Heading.Render(title), ""}
	out = append(out, fitLines(strings.Split(fs.f.View(), "\n"), m.bodyHeight()-len(out))...)
	return out, "enter: next · shift+tab: back · space: tick · esc: leave"
}

// fitLines drops the blank lines the form pads its page with, last first,
// until it fits in n lines: the errors it writes below the page stay.
func fitLines(lines []string, n int) []string {
	blank := func(l string) bool { return strings.TrimSpace(ansi.Strip(l)) == "" }
	for len(lines) > 0 && blank(lines[len(lines)-1]) {
		lines = lines[:len(lines)-1]
	}
	for i := len(lines) - 1; i > 0 && len(lines) > n; i-- {
		if blank(lines[i]) && blank(lines[i-1]) {
			lines = append(lines[:i], lines[i+1:]...)
		}
	}
	return lines
}
