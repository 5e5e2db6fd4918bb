package tui

import (
	"fmt"
	"io"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

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

	scrForm       // new ceremony: the form (form.go)
	scrFormReview // new ceremony: the script it wrote
)

var screenTitles = map[screen]string{
	scrPick: "choose a ledger", scrHome: "home", scrLedger: "ledger timeline", scrRecord: "record",
	scrScript: "run a ceremony", scrPlan: "the plan", scrPeople: "people present", scrSign: "what is signed",
	scrStep: "step", scrRunning: "running", scrDone: "done",
	scrHolder: "share holders", scrShares: "shares",
	scrKeys: "keys", scrKey: "key",
	scrForm: "new ceremony", scrFormReview: "the script",
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
	// Workspace is where the new-ceremony form saves the scripts it
	// writes; the working directory when empty.
	Workspace string
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

	lv  ledgerView
	rv  recordView
	kv  keysView
	kd  keyDetail
	inv *report.Report // the inventory, as custos inventory builds it
	// verifying: the ledger opened and Home shows its replayed state
	// while verify runs in the background (gen numbers the opens, so a
	// late verify of an earlier one is dropped); onceVerified is a step
	// that signs, waiting for that verify to pass (whenVerified).
	verifying    bool
	stKeys       []*ledger.KeyState // the replayed state's keys in order, of stKeysOf
	stKeysOf     *ledger.State
	stKeysSeq    int64
	gen          int
	onceVerified func() tea.Cmd
	run          *runState
	ask2         *confirm   // a question over the screen: abandon a ceremony?
	form         *formState // new ceremony, while its form or script is shown

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
		if cmd, ok := m.formMsg(msg); ok {
			return m, cmd
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
				if strings.HasPrefix(purpose, "filter:") {
					m.input.SetValue("")
					m.inputFor = purpose
					m.liveFilter() // esc in a filter clears it
					m.inputFor = ""
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
	case verifiedMsg:
		return m, m.onVerified(msg)
	case shareMsg:
		m.onShare(msg)
		return m, m.br.listen()
	case resumeMsg:
		return m, m.onResume(msg)
	case requestMsg:
		m.onRequest(msg)
		return m, nil
	}
	if cmd, ok := m.formMsg(msg); ok {
		return m, cmd
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

// component is a screen with its own state, keys and view; the model
// routes to it and hands it the shared context (ledger, size, styles).
// The browsing screens are components (ledgerView, recordView, keysView,
// keyDetail); Home, the picker and the ceremony's screens are still
// methods of the model, their state in runState.
type component interface {
	keys(m *Model, msg tea.KeyPressMsg) tea.Cmd
	view(m *Model) (body []string, footer string)
}

var _ = []component{&ledgerView{}, &recordView{}, &keysView{}, &keyDetail{}}

// keyScreen handles a key on the current screen.
func (m *Model) keyScreen(msg tea.KeyPressMsg) tea.Cmd {
	switch m.screen {
	case scrPick:
		return m.keyPick(msg)
	case scrHome:
		return m.keyHome(msg)
	case scrLedger:
		return m.lv.keys(m, msg)
	case scrRecord:
		return m.rv.keys(m, msg)
	case scrKeys:
		return m.kv.keys(m, msg)
	case scrKey:
		return m.kd.keys(m, msg)
	case scrFormReview:
		return m.keyFormReview(msg)
	default:
		return m.keyRun(msg)
	}
}

// submit acts on a finished input.
func (m *Model) submit(purpose, v string) tea.Cmd {
	switch {
	case purpose == "resume":
		return m.whenVerified(func() tea.Cmd { return m.startResume(v) })
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
