package tui

import (
	"fmt"
	"io"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"custos/internal/hint"
	"custos/ledger"
	"custos/report"
)

type screen int

const (
	scrPick screen = iota // choose a ledger
	scrHome
	scrLedger
	scrRecord
	scrScript
	scrPlan
	scrPeople
	scrSign
	scrStep
	scrRunning
	scrDone
	scrHolder // backup: one share holder at a time
	scrShares // restore: shares entered one by one
	scrKeys   // the key list
	scrKey    // one key's whole life
)

var screenTitles = map[screen]string{
	scrPick: "choose a ledger", scrHome: "home", scrLedger: "ledger timeline", scrRecord: "record",
	scrScript: "run a ceremony", scrPlan: "the plan", scrPeople: "people present", scrSign: "what is signed",
	scrStep: "step", scrRunning: "running", scrDone: "done",
	scrHolder: "share holders", scrShares: "shares",
	scrKeys: "keys", scrKey: "key",
}

// Options configure a Model.
type Options struct {
	// Ledger is the ledger directory; empty shows the ledger picker.
	Ledger string
	// Recent are ledgers opened before, offered by the picker.
	Recent []string
	// NoColor drops all colour (NO_COLOR).
	NoColor bool
	// Now is the clock for rotation dates; time.Now when nil.
	Now func() time.Time
	// Opened is called with a ledger directory once it opened, to
	// remember it among the recent ones.
	Opened func(dir string)
}

// Model is the whole TUI: one screen at a time, plus the help overlay and
// the secret prompt that can appear over any screen.
type Model struct {
	opts   Options
	st     Styles
	br     *bridge
	width  int
	height int

	screen screen
	help   bool
	prompt *masked
	// onSecret, when set, takes the answer of a prompt the TUI itself
	// opened (a typed share card) instead of the engine.
	onSecret func(secretReply) tea.Cmd
	status   string // last message, shown above the footer
	bad      bool   // status is an error
	busy     string // an engine call is running
	scroll   int    // top line of a scrolling body

	input    textinput.Model
	inputFor string // what the input is for, "" when no input is shown

	dir  string
	led  *ledger.Ledger
	rows []recordRow
	pick int

	lv   ledgerView
	kv   keysView
	inv  *report.Report // the inventory, as custos inventory builds it
	run  *runState
	ask2 *confirm // a question over the screen: abandon a ceremony?

	stopAt time.Time // when ctrl+c last asked a running step to stop
	footer string    // the keys of the screen as last drawn
}

// New returns the TUI model. Run it with tea.NewProgram or with Run.
func New(o Options) *Model {
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Model{opts: o, st: NewStyles(o.NoColor), br: newBridge(), width: 80, height: 24}
	m.input = textinput.New()
	m.input.Prompt = "› "
	m.input.CharLimit = 4096
	m.screen = scrPick
	if o.Ledger != "" {
		m.busy = "opening the ledger " + o.Ledger
	}
	return m
}

// Run runs the TUI on in/out until the person quits.
func Run(o Options, in io.Reader, out io.Writer) error {
	m := New(o)
	p := tea.NewProgram(m, tea.WithInput(in), tea.WithOutput(out), tea.WithoutSignalHandler())
	stop := forwardSignals(p)
	_, err := p.Run()
	stop()
	if m.run != nil {
		m.run.release()
	}
	return err
}

// Init opens the ledger (when named) and arms the engine listener.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.br.listen()}
	if m.opts.Ledger != "" {
		cmds = append(cmds, openLedgerCmd(m.opts.Ledger, m.opts.Now()))
	}
	return tea.Batch(cmds...)
}

// say sets the status line; err messages carry their hint.
func (m *Model) say(format string, args ...any) {
	m.status, m.bad = fmt.Sprintf(format, args...), false
}

func (m *Model) fail(err error) {
	m.status, m.bad = "error: "+err.Error(), true
	if h := hint.Of(err); h != "" {
		m.status += "\nhint: " + h
	}
}

func (m *Model) goTo(s screen) {
	m.screen, m.scroll, m.help = s, 0, false
}

// ask shows the single-line input for a purpose.
func (m *Model) ask(purpose, placeholder, value string) tea.Cmd {
	m.inputFor = purpose
	m.input.Placeholder = placeholder
	m.input.SetValue(value)
	m.input.CursorEnd()
	m.input.SetWidth(max(10, m.width-6))
	return m.input.Focus()
}

func (m *Model) closeInput() {
	m.inputFor = ""
	m.input.Blur()
	m.input.SetValue("")
}

// Update routes a message: engine events first, then the secret prompt,
// the input, and the current screen.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.input.SetWidth(max(10, m.width-6))
		return m, nil
	case promptMsg:
		m.prompt = &masked{what: msg.what, reply: msg.reply}
		return m, m.br.listen()
	case progressMsg:
		if m.run != nil {
			m.run.progress = append(m.run.progress, msg.line)
		}
		return m, m.br.listen()
	case stepMsg:
		if m.run != nil {
			m.run.steps = append(m.run.steps, msg.step)
		}
		return m, m.br.listen()
	case stopMsg:
		return m, m.interrupt(msg.name())
	case tea.PasteMsg:
		if m.prompt != nil {
			m.prompt.paste(msg.Content)
			return m, nil
		}
	case tea.KeyPressMsg:
		if m.prompt != nil {
			if p := m.prompt; p.key(msg) {
				m.prompt = nil
				if f := m.onSecret; f != nil {
					m.onSecret = nil
					return m, f(<-p.reply)
				}
			}
			return m, nil
		}
		if msg.String() == "ctrl+c" {
			return m, m.interrupt("ctrl+c")
		}
		if m.ask2 != nil {
			return m, m.keyConfirm(msg)
		}
		if m.inputFor != "" {
			switch msg.String() {
			case "enter":
				v, purpose := strings.TrimSpace(m.input.Value()), m.inputFor
				m.closeInput()
				return m, m.submit(purpose, v)
			case "esc":
				purpose := m.inputFor
				m.closeInput()
				if purpose == "card" {
					return m, m.submitCard("") // the engine waits for an answer
				}
				if m.screen == scrScript {
					m.goTo(scrHome)
				}
				return m, nil
			}
			var cmd tea.Cmd
			m.input, cmd = m.input.Update(msg)
			m.liveFilter()
			return m, cmd
		}
		if m.help {
			m.help = false
			return m, nil
		}
		if key.Matches(msg, Keys.Help) {
			m.help = true
			return m, nil
		}
		if m.busy != "" {
			return m, nil // keys wait while the engine works
		}
		if key.Matches(msg, Keys.Quit) && m.screen != scrRunning {
			if m.inCeremony() {
				return m, m.askLeave(true)
			}
			return m, tea.Quit
		}
		return m, m.keyScreen(msg)
	case ledgerMsg:
		return m, m.onLedger(msg)
	case shareMsg:
		m.onShare(msg)
		return m, m.br.listen()
	case resumeMsg:
		return m, m.onResume(msg)
	case requestMsg:
		m.onRequest(msg)
		return m, nil
	}
	if cmd, ok := m.engineMsg(msg); ok {
		return m, cmd
	}
	if m.inputFor != "" {
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return m, cmd
	}
	return m, nil
}

// keyScreen handles a key on the current screen.
func (m *Model) keyScreen(msg tea.KeyPressMsg) tea.Cmd {
	switch m.screen {
	case scrPick:
		return m.keyPick(msg)
	case scrHome:
		return m.keyHome(msg)
	case scrLedger, scrRecord:
		return m.keyLedger(msg)
	case scrKeys:
		return m.kv.keys(m, msg)
	case scrKey:
		return m.keyDetailKeys(msg)
	default:
		return m.keyRun(msg)
	}
}

// submit acts on a finished input.
func (m *Model) submit(purpose, v string) tea.Cmd {
	switch {
	case purpose == "resume":
		return m.startResume(v)
	case purpose == "ledger":
		if v == "" {
			return nil
		}
		m.busy = "opening the ledger " + v
		return openLedgerCmd(v, m.opts.Now())
	case purpose == "genesis":
		return m.startVerifyGenesis(v)
	case strings.HasPrefix(purpose, "filter:"):
		return nil // applied as typed
	default:
		return m.submitRun(purpose, v)
	}
}

// scrollKeys moves a scrolling body.
func (m *Model) scrollKeys(msg tea.KeyPressMsg) bool {
	switch {
	case key.Matches(msg, Keys.Up):
		m.scroll = max(0, m.scroll-1)
	case key.Matches(msg, Keys.Down):
		m.scroll++
	case key.Matches(msg, Keys.PageUp):
		m.scroll = max(0, m.scroll-m.bodyHeight()+1)
	case key.Matches(msg, Keys.PageDown):
		// the last line of a page is the "↓ more" line: it comes first
		// on the next page
		m.scroll += m.bodyHeight() - 1
	default:
		return false
	}
	return true
}

func (m *Model) bodyHeight() int {
	return max(3, m.height-2-len(m.footerLines())-len(m.statusLines()))
}

// footerLines are the keys of this screen, on two lines when one is too
// narrow for them: a key is never cut off.
func (m *Model) footerLines() []string {
	f := m.footer + " · ?: help"
	w := max(20, m.width)
	if ansi.StringWidth(f) <= w {
		return []string{f}
	}
	return strings.Split(ansi.Wrap(f, w, " "), "\n")
}

func (m *Model) statusText() string {
	if m.busy != "" {
		if !m.stopAt.IsZero() && strings.Contains(m.status, Stopping) {
			return "… " + m.busy + "\n" + m.status // a stop was asked for
		}
		return "… " + m.busy
	}
	return m.status
}

// statusLines is the status wrapped to the terminal's width, at most four
// lines, so a long error is read in full and the body still fits.
func (m *Model) statusLines() []string {
	s := m.statusText()
	if s == "" {
		return []string{""}
	}
	lines := strings.Split(ansi.Wrap(s, max(20, m.width), " /"), "\n")
	if len(lines) > 4 {
		lines = append(lines[:3], lines[3]+" …")
	}
	return lines
}

// View draws the current screen in the terminal's size: a title line, the
// body (scrolled or cut to fit), the status and the keys of this screen.
func (m *Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "custos"
	return v
}

func (m *Model) render() string {
	title := " custos · " + screenTitles[m.screen]
	if m.screen == scrStep && m.run != nil {
		title = fmt.Sprintf(" custos · step %d of %d", m.run.step+1, len(m.run.plan.Steps))
	}
	if m.screen == scrRunning && m.run != nil {
		title = fmt.Sprintf(" custos · running step %d of %d", min(m.stepsDone()+1, len(m.run.plan.Steps)), len(m.run.plan.Steps))
	}
	if m.dir != "" {
		title += " · " + m.dir
	}
	body, footer := m.frame()
	if footer != m.footer {
		// the body's height depends on the footer's: draw again with it
		m.footer = footer
		body, _ = m.frame()
	}
	w := max(20, m.width)
	// Nothing on the body is ever cut: a digest, id or word list too wide
	// for the terminal continues on the next line, indented.
	body = wrapAll(body, w)
	h := m.bodyHeight()
	top := m.scroll
	if m.screen == scrLedger && m.prompt == nil && !m.help {
		top = 0 // the timeline keeps its own window
	}
	if top > max(0, len(body)-h) {
		top = max(0, len(body)-h)
		m.scroll = top
	}
	if len(body) > h {
		more := len(body) - top - h
		body = body[top:min(len(body), top+h)]
		if more > 0 {
			body[len(body)-1] = m.st.Dim.Render(fmt.Sprintf("  ↓ %d more lines (↓/pgdn)", more))
		}
	}
	lines := []string{m.st.Title.Render(title), ""}
	lines = append(lines, body...)
	for len(lines) < h+2 {
		lines = append(lines, "")
	}
	st := m.st.OK
	if m.bad {
		st = m.st.Bad
	}
	for _, l := range m.statusLines() {
		lines = append(lines, st.Render(l))
	}
	for _, l := range m.footerLines() {
		lines = append(lines, m.st.Footer.Render(l))
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, w, "…")
	}
	return strings.Join(lines, "\n")
}

// frame is the body and the footer of what is on the screen now: the
// secret prompt, help, a question, or the current screen, with the text
// field under it.
func (m *Model) frame() ([]string, string) {
	var body []string
	footer := ""
	switch {
	case m.prompt != nil:
		body, footer = m.promptBody(), "enter: give it to the engine · esc: cancel"
	case m.help:
		body, footer = m.helpBody(), "any key: back"
	case m.ask2 != nil:
		body, footer = m.confirmBody(), "y: yes · n/esc: no"
	default:
		body, footer = m.screenBody()
	}
	if m.inputFor != "" && m.prompt == nil && !m.help {
		body = append(body, "", m.input.View())
		footer = "enter: ok · esc: cancel"
		if strings.HasPrefix(m.inputFor, "filter:") {
			footer = "type to filter · enter: keep it · esc: clear"
		}
	}
	return body, footer
}

func (m *Model) screenBody() ([]string, string) {
	switch m.screen {
	case scrPick:
		return m.pickBody()
	case scrHome:
		return m.homeBody()
	case scrLedger:
		return m.ledgerBody()
	case scrRecord:
		return m.recordBody()
	case scrKeys:
		return m.kv.view(m)
	case scrKey:
		return m.keyDetailBody()
	default:
		return m.runBody()
	}
}

func (m *Model) promptBody() []string {
	return []string{
		m.st.Heading.Render(m.prompt.heading()),
		"",
		"  " + m.prompt.what,
		"",
		"  Type it and press enter. It is never shown, never stored and",
		"  is wiped from memory as soon as it has been used.",
		"",
		"  " + m.st.Key.Render("secret: ") + m.prompt.dots() + "▏",
	}
}

func (m *Model) helpBody() []string {
	out := []string{m.st.Heading.Render("Keys"), ""}
	// Two columns, so the whole keymap fits 80×24.
	all := Keys.All()
	half := (len(all) + 1) / 2
	col := max(20, (m.width-2)/2)
	cell := func(b key.Binding) string {
		h := b.Help()
		return fmt.Sprintf("%-6s %s", h.Key, h.Desc)
	}
	for i := range half {
		l := "  " + cell(all[i])
		if i+half < len(all) {
			l += strings.Repeat(" ", max(1, col-ansi.StringWidth(l))) + cell(all[i+half])
		}
		out = append(out, l)
	}
	out = append(out, "", "  In a text field, q, ? and letters are typed; ctrl+c always quits",
		"  (while the HSM works or a record is written, it first asks the step to finish).",
		"  The screen needs no mouse; it fits 80×24 and follows resizing.")
	return out
}
