// Restore: the holders enter their shares one by one, each checked at
// once against the backup's commitment; accepted ones stay in memory.

package tui

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"custos/ceremony"
	"custos/shamir"
)

// --- restore: shares entered one by one ---

// shareEntry is one share as entered, and what the check said.
type shareEntry struct {
	what   string // file path, or "card typed at the screen"
	tmpl   string // "card" when typed, "" for a file
	index  int
	holder string
	err    error
}

// shareMsg is a checked share. An accepted one is kept in memory only,
// as in: its text form (an age file already opened) or the card typed;
// it is never written anywhere, and it is zeroed when the run ends.
type shareMsg struct {
	e  shareEntry
	in ceremony.ShareInput
}

// startShares opens the restore's share entry: the backup as recorded.
func (m *Model) startShares() tea.Cmd {
	r := m.run
	b, err := ceremony.LoadBackup(m.led, r.eng.Script.Restore.Backup)
	if err != nil {
		m.fail(err)
		return nil
	}
	r.backup = b
	r.wipeShares()
	r.entries = nil
	m.status = ""
	m.goTo(scrShares)
	return nil
}

func (m *Model) goodShares() int {
	n := 0
	for _, e := range m.run.entries {
		if e.err == nil {
			n++
		}
	}
	return n
}

// nextListed is the first share file of the script not yet entered, to
// offer as the default.
func (m *Model) nextListed() ceremony.ShareSource {
	r := m.run
	for _, s := range r.eng.Script.Restore.Shares {
		used := false
		for _, e := range r.entries {
			if e.what == s.File {
				used = true
			}
		}
		if !used {
			return s
		}
	}
	return ceremony.ShareSource{}
}

func (m *Model) keyShares(msg tea.KeyPressMsg) tea.Cmd {
	r := m.run
	switch {
	case key.Matches(msg, Keys.File):
		return m.ask("share", "share file: text form, word card or age file", m.nextListed().File)
	case key.Matches(msg, Keys.Words):
		r.words = nil
		m.askWords()
	case key.Matches(msg, Keys.Continue):
		if n := m.goodShares(); n < r.backup.M {
			m.fail(fmt.Errorf("%d good shares of the %d needed: enter %d more", n, r.backup.M, r.backup.M-n))
			return nil
		}
		// The engine takes the accepted shares from memory, in the order
		// they were entered, and zeroes them.
		r.eng.Shares = r.accepted
		m.status = ""
		m.goTo(scrPeople)
	case key.Matches(msg, Keys.Back):
		return m.askLeave(false)
	default:
		m.scrollKeys(msg)
	}
	return nil
}

// askWords asks the next line of a word card in the masked field; an
// empty line ends the card.
func (m *Model) askWords() {
	r := m.run
	lines := bytes.Count(r.words, []byte{'\n'})
	m.prompt = &masked{title: "A share card, typed line by line",
		what:  fmt.Sprintf("line %d of the card (five words and the check word; empty line: done)", lines+1),
		reply: make(chan secretReply, 1)}
	m.onSecret = func(rep secretReply) tea.Cmd {
		if rep.err != nil {
			clear(r.words)
			r.words = nil
			m.say("card entry cancelled; nothing was kept")
			return nil
		}
		if len(bytes.TrimSpace(rep.secret)) == 0 {
			clear(rep.secret)
			words := r.words
			r.words = nil
			return m.checkCard(words)
		}
		r.words = appendSecret(r.words, rep.secret)
		r.words = appendSecret(r.words, []byte{'\n'})
		clear(rep.secret)
		m.askWords()
		return nil
	}
}

// appendSecret grows a secret buffer without leaving a copy behind.
func appendSecret(dst, b []byte) []byte {
	if len(dst)+len(b) > cap(dst) {
		nb := make([]byte, len(dst), 2*cap(dst)+len(b))
		copy(nb, dst)
		clear(dst)
		dst = nb
	}
	return append(dst, b...)
}

// checkCard checks a typed card; an accepted one is kept in memory for
// the engine, never written anywhere.
func (m *Model) checkCard(words []byte) tea.Cmd {
	r := m.run
	m.busy = "checking the card"
	b, lid := r.backup, m.led.State().LedgerID
	return func() tea.Msg {
		e := shareEntry{what: "card typed at the screen", tmpl: "card"}
		sh, err := shamir.ParseWords(words)
		if err != nil {
			clear(words)
			e.err = err
			return shareMsg{e: e}
		}
		defer sh.Zero()
		e.index, e.holder = sh.Index, b.Holder(sh.Index)
		if e.err = b.CheckShare(lid, sh); e.err != nil {
			clear(words)
			return shareMsg{e: e}
		}
		return shareMsg{e: e, in: ceremony.ShareInput{What: e.what, Data: words}}
	}
}

// checkShareFile reads one share file as the engine will, checks it
// against the backup's commitment at once, and says which share it is.
// An age file is opened with the holder's key (its passphrase in the
// masked field) and its text form kept in memory for the engine, so the
// passphrase is asked once; nothing is written anywhere.
func (m *Model) checkShareFile(path, identity string) tea.Cmd {
	r := m.run
	m.busy = "checking the share in " + path
	b, lid, br := r.backup, m.led.State().LedgerID, m.br
	return func() tea.Msg {
		e := shareEntry{what: path}
		msg := func() tea.Msg {
			data, err := ceremony.ReadShareFile(path)
			if err != nil {
				e.err = err
				return shareMsg{e: e}
			}
			defer clear(data)
			sh, age, err := ceremony.OpenShare(path, data, ceremony.ShareKey{Identity: identity}, br)
			if err != nil {
				e.err = err
				return shareMsg{e: e}
			}
			defer sh.Zero()
			e.index, e.holder = sh.Index, b.Holder(sh.Index)
			if e.err = b.CheckShare(lid, sh); e.err != nil {
				return shareMsg{e: e}
			}
			keep := data
			if age {
				if keep, err = sh.Text(); err != nil {
					e.err = err
					return shareMsg{e: e}
				}
			} else {
				keep = slices.Clone(data)
			}
			return shareMsg{e: e, in: ceremony.ShareInput{What: path, Data: keep}}
		}()
		// Through the bridge: a passphrase prompt may come first.
		br.events <- msg
		return nil
	}
}

// onShare takes a checked share: refused ones are named and skipped, a
// second entry of the same index is refused.
func (m *Model) onShare(msg shareMsg) {
	m.busy = ""
	r := m.run
	if r == nil {
		clear(msg.in.Data)
		return
	}
	e := msg.e
	if e.err == nil {
		for _, x := range r.entries {
			if x.err == nil && x.index == e.index {
				e.err = fmt.Errorf("share %d (holder %s) was already entered", e.index, e.holder)
			}
		}
	}
	r.entries = append(r.entries, e)
	if e.err != nil {
		clear(msg.in.Data)
		if e.index > 0 {
			m.fail(fmt.Errorf("share %d (holder %s) refused: %w", e.index, e.holder, e.err))
		} else {
			m.fail(fmt.Errorf("%s refused: %w", e.what, e.err))
		}
		return
	}
	r.accepted = append(r.accepted, msg.in)
	m.say("share %d (holder %s) accepted: %d of %d", e.index, e.holder, m.goodShares(), r.backup.M)
}

func (m *Model) sharesBody() ([]string, string) {
	s, r := m.st, m.run
	b := r.backup
	good := m.goodShares()
	out := []string{s.Heading.Render(fmt.Sprintf("Shares of backup %s: %d of the %d needed", b.ID, good, b.M)), "",
		"  Each holder enters their share in turn: f for a file (text form, card",
		"  or age file opened with their key), w to type a word card (masked).",
		"  Each share is checked at once against the ledger's commitment.", ""}
	for i, e := range r.entries {
		what := e.what
		if e.tmpl == "" {
			what = filepath.Base(what)
		}
		line := fmt.Sprintf("  %d. %s", i+1, what)
		switch {
		case e.err == nil:
			out = append(out, s.OK.Render(fmt.Sprintf("%s: ✓ share %d of %s accepted", line, e.index, e.holder)))
		default:
			out = append(out, s.Bad.Render(line+": ✗ refused"))
			out = append(out, m.wrap("       "+e.err.Error(), "       ")...)
		}
	}
	if len(r.entries) == 0 {
		out = append(out, s.Dim.Render("  no share entered yet"))
	}
	out = append(out, "", "  holders: "+strings.Join(b.Holders, ", "))
	if m.inputFor == "identity" {
		out = append(out, "", s.Actor.Render("  "+filepath.Base(r.pending)+" is encrypted: type the holder's key file that opens it"))
	}
	if good >= b.M {
		out = append(out, "", s.OK.Render("  Enough good shares: c to continue."))
	} else {
		out = append(out, "", s.Actor.Render(fmt.Sprintf("  → now: the next holder enters a share (%d more needed)", b.M-good)))
	}
	return out, "f: share file · w: type a card · c: continue · esc: abandon"
}

// wipeShares zeroes the shares entered and the card being typed.
func (r *runState) wipeShares() {
	for _, in := range r.accepted {
		clear(in.Data)
	}
	r.accepted = nil
	clear(r.words)
	r.words = nil
	clear(r.card)
	r.card = nil
}
