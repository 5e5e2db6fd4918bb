package tui

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"custos/ceremony"
	"custos/hsm/hsmtest"
	"custos/ledger"
	"custos/sign"
)

// harness drives a Model the way bubbletea does: Update, then every
// returned command in its own goroutine, its message fed back in. Every
// rendered screen is kept so tests can check what was ever shown.
type harness struct {
	t       *testing.T
	m       *Model
	msgs    chan tea.Msg
	shown   []string
	running atomic.Int64  // commands not yet returned
	done    chan struct{} // closed when the test ends
}

func newHarness(t *testing.T, m *Model) *harness {
	h := &harness{t: t, m: m, msgs: make(chan tea.Msg, 64), done: make(chan struct{})}
	// Before the test's temporary directories go (cleanups run last
	// first), let the commands in flight finish: one may still be
	// reopening or writing the ledger when the test has seen what it
	// wanted. Listeners on the engine's bridge are woken with an empty
	// event; an engine left waiting for a prompt is given up on.
	t.Cleanup(func() {
		close(h.done)
		for deadline := time.Now().Add(5 * time.Second); h.running.Load() > 0 && time.Now().Before(deadline); {
			select {
			case m.br.events <- settleMsg{}:
			default:
				time.Sleep(5 * time.Millisecond)
			}
		}
	})
	h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.exec(m.Init())
	return h
}

// settleMsg wakes a listener on the bridge when a test ends.
type settleMsg struct{}

func (h *harness) exec(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	h.running.Add(1)
	go func() {
		defer h.running.Add(-1)
		msg := cmd()
		if b, ok := msg.(tea.BatchMsg); ok {
			for _, c := range b {
				h.exec(c)
			}
			return
		}
		if msg != nil {
			select {
			case h.msgs <- msg:
			case <-h.done:
			}
		}
	}()
}

func (h *harness) send(msg tea.Msg) {
	_, cmd := h.m.Update(msg)
	h.exec(cmd)
	h.shown = append(h.shown, h.view())
}

func (h *harness) view() string { return ansi.Strip(h.m.View().Content) }

// capture writes the screen to $CUSTOS_SCREENS_DIR/name.txt when that is
// set, so docs/screens can be refreshed from the in-process tests.
func (h *harness) capture(name string) {
	if d := os.Getenv("CUSTOS_SCREENS_DIR"); d != "" {
		if err := os.WriteFile(filepath.Join(d, name+".txt"), []byte(h.view()+"\n"), 0o644); err != nil {
			h.t.Fatal(err)
		}
	}
}

// waitFor feeds messages until the screen shows want.
func (h *harness) waitFor(want string) string {
	h.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if v := h.view(); strings.Contains(v, want) {
			return v
		}
		select {
		case msg := <-h.msgs:
			h.send(msg)
		case <-deadline:
			h.t.Fatalf("screen never showed %q; it shows:\n%s", want, h.view())
		}
	}
}

// waitIdle feeds messages until no engine call or ledger read is running.
func (h *harness) waitIdle() {
	h.t.Helper()
	deadline := time.After(30 * time.Second)
	for h.m.busy != "" || h.m.verifying {
		select {
		case msg := <-h.msgs:
			h.send(msg)
		case <-deadline:
			h.t.Fatalf("still busy (%s); the screen shows:\n%s", h.m.busy, h.view())
		}
	}
}

func (h *harness) key(k string) {
	var msg tea.KeyPressMsg
	switch k {
	case "enter":
		msg = tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		msg = tea.KeyPressMsg{Code: tea.KeyEscape}
	case "down":
		msg = tea.KeyPressMsg{Code: tea.KeyDown}
	case "up":
		msg = tea.KeyPressMsg{Code: tea.KeyUp}
	case "space":
		msg = tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "pgdown":
		msg = tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "backspace":
		msg = tea.KeyPressMsg{Code: tea.KeyBackspace}
	default:
		r := []rune(k)[0]
		msg = tea.KeyPressMsg{Code: r, Text: k}
	}
	h.send(msg)
}

func (h *harness) typ(s string) {
	for _, r := range s {
		h.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// present brings members forward on the people screen, in roster order
// from the cursor: each selects their key file and is shown present.
func (h *harness) present(keys map[string]string, names ...string) {
	h.t.Helper()
	for i, n := range names {
		if i > 0 {
			h.key("down")
		}
		h.key("enter")
		h.typ(keys[n])
		h.key("enter")
		h.waitFor(n + " is present")
	}
}

// tickSteps ticks every item of every step and goes on; the last enter
// runs the ceremony.
func (h *harness) tickSteps() {
	for step := range h.m.run.checks {
		for range h.m.run.checks[step] {
			h.key("space")
		}
		h.key("enter")
	}
}

// runToClose goes from the people screen to the done screen: the named
// members present (in the roster's order), the PIN typed when the engine
// asks for one ("" for a ceremony on no token), what is signed read, the
// steps ticked; it returns the done screen.
func (h *harness) runToClose(keys map[string]string, pin, ceremonyID string, names ...string) string {
	h.t.Helper()
	h.waitFor("Who is present")
	h.present(keys, names...)
	h.key("c")
	if pin != "" {
		h.waitFor("The engine asks for a secret")
		h.typ(pin)
		h.key("enter")
	}
	h.waitFor("What is signed")
	for h.m.screen == scrSign {
		h.key("enter")
	}
	h.tickSteps()
	return h.waitFor("Ceremony " + ceremonyID + " is closed")
}

// newCeremony goes from Home to the form and picks the kind whose option
// starts with label ("sign —").
func (h *harness) newCeremony(label string) {
	h.t.Helper()
	h.waitFor("n: new ceremony")
	h.key("n")
	h.at("kind")
	h.waitFor(label)
	h.pick(label)
}

// pick moves the focused select down to the option that starts with
// label, and takes it.
func (h *harness) pick(label string) {
	h.t.Helper()
	for !strings.Contains(h.view(), "> "+label) {
		h.key("down")
	}
	h.key("enter")
}

// fits checks a screen is exactly the terminal's size, no line too wide.
func fits(t *testing.T, v string, w, hgt int) {
	t.Helper()
	lines := strings.Split(v, "\n")
	if len(lines) != hgt {
		t.Errorf("screen has %d lines, terminal %d:\n%s", len(lines), hgt, v)
	}
	for i, l := range lines {
		if ansi.StringWidth(l) > w {
			t.Errorf("line %d is %d cells wide, terminal %d: %q", i, ansi.StringWidth(l), w, l)
		}
	}
}

// fixture is a real ledger (alice custodian, bob and carol officers, keys
// made by stock ssh-keygen) and a real SoftHSM token.
type fixture struct {
	dir, ledger string
	keys        map[string]string // member → key file
	tok         *hsmtest.Token
	uri         string // token URI without pin-source: the PIN is asked
}

func newFixture(t *testing.T) *fixture { t.Helper(); return newFixturePolicy(t, nil) }

// newFixturePolicy is newFixture with its policy changed by edit first.
func newFixturePolicy(t *testing.T, edit func(*ledger.Policy)) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), keys: map[string]string{}}
	signers := map[string]sign.Signer{}
	var roster ledger.Roster
	roles := map[string]string{"alice": "custodian", "bob": "officer", "carol": "officer"}
	for _, n := range []string{"alice", "bob", "carol"} {
		p := filepath.Join(f.dir, n)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", n, "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		s, err := sign.LoadFile(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.keys[n], signers[n] = p, s
		roster.Members = append(roster.Members, ledger.Member{Name: n, Roles: []string{roles[n]}, Key: sign.AuthorizedKey(s.PublicKey())})
	}
	policy := &ledger.Policy{Approvals: map[string]ledger.Requirement{
		"key.generate.intent": {Roles: []string{"officer"}, Count: 1},
		"key.destroy.intent":  {Roles: []string{"officer"}, Count: 1},
	}, Algorithms: ledger.DefaultAlgorithms}
	if edit != nil {
		edit(policy)
	}
	f.ledger = filepath.Join(f.dir, "L")
	if _, err := ledger.Create(f.ledger, &roster, policy, signers, time.Now().UTC().Truncate(time.Second)); err != nil {
		t.Fatal(err)
	}
	f.tok = hsmtest.NewToken(t, "tui")
	f.uri = fmt.Sprintf("pkcs11:token=%s?module-path=%s", f.tok.Label, hsmtest.ModulePath())
	return f
}

// enrol records the fixture's token in the ledger the way an enroll
// ceremony does (hsm.enrolled by alice, the custodian, then
// ceremony.closed): the ledger names only HSMs it enrolled, and the engine
// refuses any other ceremony on a token it has not.
func (f *fixture) enrol(t *testing.T) {
	t.Helper()
	l, err := ledger.Open(f.ledger)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := sign.LoadFile(f.keys["alice"], nil)
	if err != nil {
		t.Fatal(err)
	}
	pin := filepath.Join(f.dir, "enrol.pin")
	writeFile(t, pin, string(f.tok.UserPIN))
	s := &ceremony.Script{File: "enroll.yaml", Kind: ceremony.KindEnroll, HSM: f.uri + "&pin-source=file:" + pin, Operator: "alice"}
	if _, err := (&ceremony.Engine{Ledger: l, Script: s, Signers: map[string]sign.Signer{"alice": alice}}).Run(); err != nil {
		t.Fatalf("enrol %s: %v", f.tok.Label, err)
	}
}

func (f *fixture) script(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(body, "$HSM", f.uri)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) seq(t *testing.T) int64 {
	l, err := ledger.Open(f.ledger)
	if err != nil {
		t.Fatal(err)
	}
	return l.State().Seq
}

const generateScript = `kind: generate
ceremony: kek-tui
hsm: "$HSM"
operator: alice
witnesses: [bob]
key:
  label: kek-tui
  type: aes-256
  owner: payments
  purpose: wraps data keys
  rotation: 1y
`

const destroyScript = `kind: destroy
ceremony: kek-tui-destroy
hsm: "$HSM"
operator: alice
destroy:
  key: kek-tui
  reason: superseded
`

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
