package tui

import (
	"errors"
	"strings"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
)

// errCancelled is what the engine gets when the person at the screen
// cancels a secret prompt.
var errCancelled = errors.New("cancelled at the screen")

// promptMsg asks the person at the screen for a secret; the answer goes
// back on reply exactly once.
type promptMsg struct {
	what  string
	reply chan secretReply
}

type secretReply struct {
	secret []byte
	err    error
}

// progressMsg is one line the engine wrote to its Progress writer.
type progressMsg struct{ line string }

// bridge carries what the engine, running inside a tea.Cmd, has to say to
// the screen: secret prompts and progress lines. The model keeps one
// listener armed on events at all times.
type bridge struct{ events chan tea.Msg }

func newBridge() *bridge { return &bridge{events: make(chan tea.Msg)} }

// listen waits for the next event of the engine.
func (b *bridge) listen() tea.Cmd {
	return func() tea.Msg { return <-b.events }
}

// Secret implements ceremony.Prompter: it shows a masked field and blocks
// until the person types the secret (or cancels). The caller zeroes it.
func (b *bridge) Secret(what string) ([]byte, error) {
	reply := make(chan secretReply, 1)
	b.events <- promptMsg{what: what, reply: reply}
	r := <-reply
	return r.secret, r.err
}

// Write implements the engine's Progress writer: one message per line.
func (b *bridge) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		b.events <- progressMsg{line: line}
	}
	return len(p), nil
}

// masked is the secret field. It keeps the secret in a byte slice it
// zeroes as soon as the secret is handed over or abandoned; it renders one
// bullet per character and never the characters themselves.
type masked struct {
	title string // heading; the engine's prompts leave it empty
	what  string
	buf   []byte
	reply chan secretReply
}

const maxSecret = 256

// key handles a key press; done reports that the prompt was answered.
func (f *masked) key(msg tea.KeyPressMsg) (done bool) {
	switch msg.String() {
	case "enter":
		out := make([]byte, len(f.buf))
		copy(out, f.buf)
		f.wipe()
		f.reply <- secretReply{secret: out}
		return true
	case "esc", "ctrl+c":
		f.wipe()
		f.reply <- secretReply{err: errCancelled}
		return true
	case "backspace", "ctrl+h":
		if len(f.buf) > 0 {
			_, n := utf8.DecodeLastRune(f.buf)
			clear(f.buf[len(f.buf)-n:])
			f.buf = f.buf[:len(f.buf)-n]
		}
	case "ctrl+u":
		f.wipe()
	default:
		if t := msg.Text; t != "" && len(f.buf)+len(t) <= maxSecret {
			f.append([]byte(t))
		}
	}
	return false
}

// paste takes pasted text (a passphrase manager) the same way.
func (f *masked) paste(s string) {
	s = strings.TrimRight(s, "\r\n")
	if len(f.buf)+len(s) <= maxSecret {
		f.append([]byte(s))
	}
}

// append grows the buffer without leaving copies of the secret behind in
// an abandoned backing array.
func (f *masked) append(b []byte) {
	f.buf = appendSecret(f.buf, b)
	clear(b)
}

func (f *masked) wipe() {
	clear(f.buf)
	f.buf = f.buf[:0]
}

// dots is what the screen shows of the secret.
func (f *masked) dots() string {
	return strings.Repeat("•", utf8.RuneCount(f.buf))
}

func (f *masked) heading() string {
	if f.title != "" {
		return f.title
	}
	return "The engine asks for a secret"
}
