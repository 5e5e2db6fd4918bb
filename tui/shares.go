package tui

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"custos/ceremony"
	"custos/ledger"
	"custos/shamir"
)

// holderShare is what one holder is shown of their share after a backup:
// where it was written and how it was checked, never its contents.
type holderShare struct {
	name, file, card, readBack, commitment, sha string
	index, n, m                                 int
}

// backupHolders reads the holders' entries of the backup.split the run
// just recorded.
func backupHolders(l *ledger.Ledger, cer string) ([]holderShare, error) {
	var split *ledger.Record
	for rec, err := range l.Records() {
		if err != nil {
			return nil, err
		}
		if rec.Kind == "backup.split" && rec.Ceremony == cer {
			split = rec
		}
	}
	if split == nil {
		return nil, fmt.Errorf("ledger %s: no backup.split of ceremony %s", l.Dir(), cer)
	}
	num := func(v any) int {
		switch x := v.(type) {
		case int64:
			return int(x)
		case interface{ Int64() (int64, error) }:
			i, _ := x.Int64()
			return int(i)
		}
		return 0
	}
	hs, _ := split.Facts["holders"].([]any)
	out := make([]holderShare, 0, len(hs))
	for _, h := range hs {
		f, _ := h.(map[string]any)
		var e holderShare
		e.name, _ = f["member"].(string)
		e.file, _ = f["file"].(string)
		e.card, _ = f["card"].(string)
		e.readBack, _ = f["read_back"].(string)
		e.commitment, _ = f["commitment"].(string)
		e.sha, _ = f["file_sha256"].(string)
		e.index, e.n, e.m = num(f["index"]), num(split.Facts["n"]), num(split.Facts["m"])
		out = append(out, e)
	}
	return out, nil
}

// keyHolder: each holder in turn. Between holders the screen holds only
// the hand-over message, so nobody sees another holder's entry.
func (m *Model) keyHolder(msg tea.KeyPressMsg) tea.Cmd {
	r := m.run
	if !key.Matches(msg, Keys.Enter) {
		return nil
	}
	if !r.alone {
		r.alone = true
		m.status = ""
		return nil
	}
	h := r.holders[r.holder]
	m.say("%s confirmed share %d", h.name, h.index)
	r.holder++
	r.alone = false
	if r.holder == len(r.holders) {
		m.goTo(scrDone)
	}
	return nil
}

func (m *Model) holderBody() ([]string, string) {
	s, r := m.st, m.run
	h := r.holders[r.holder]
	if !r.alone {
		return []string{s.Heading.Render(fmt.Sprintf("Share holder %d of %d: %s", r.holder+1, len(r.holders), h.name)), "",
			s.Actor.Render("  → now: " + h.name + " comes to the screen alone"),
			"",
			"  Everyone else: please step back and look away from the screen.",
			"",
			"  " + h.name + ": press enter when you are alone at the screen.",
			"  The screen is cleared again before the next holder."}, "enter: " + h.name + " is alone at the screen"
	}
	out := []string{s.Heading.Render(fmt.Sprintf("%s: your share of backup (share %d of %d, any %d rebuild the key)", h.name, h.index, h.n, h.m)), "",
		s.Actor.Render("  → now: " + h.name + " checks and confirms"), "",
		"  Your share is encrypted to your own SSH key, in the file:",
		"    " + filepath.Base(h.file) + "   (in " + filepath.Dir(h.file) + ")"}
	if h.card != "" {
		out = append(out, "  and as a word card (print it, then destroy the file):", "    "+filepath.Base(h.card))
	}
	out = append(out, "",
		s.OK.Render("  ✓ written, read back and checked against its commitment"),
		"    how: "+h.readBack,
		"    file sha256: "+short(h.sha, 40),
		"    commitment:  "+short(h.commitment, 40),
		"",
		"  Take the file (removable media) into your custody now. Its contents are",
		"  never shown here. Press enter to confirm; the screen is then cleared.")
	return out, "enter: I have my share file and its check passed"
}

// --- restore: shares entered one by one ---

// shareEntry is one share as entered, and what the check said.
type shareEntry struct {
	what   string // file path, or "card typed at the screen"
	tmpl   string // "card" when typed, "" for a file
	index  int
	holder string
	err    error
}

type shareMsg struct {
	e   shareEntry
	src ceremony.ShareSource
	tmp string // a temporary file the TUI wrote, to remove after use
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
	r.entries, r.sources = nil, nil
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
		r.eng.Script.Restore.Shares = r.sources
		m.status = ""
		m.goTo(scrPeople)
	case key.Matches(msg, Keys.Back):
		m.abandon()
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

// checkCard checks a typed card and writes it to a private temporary file
// for the engine, which takes shares as files.
func (m *Model) checkCard(words []byte) tea.Cmd {
	r := m.run
	dir, err := r.tmpDir()
	if err != nil {
		clear(words)
		m.fail(err)
		return nil
	}
	m.busy = "checking the card"
	b, lid := r.backup, m.led.State().LedgerID
	n := len(r.tmp)
	return func() tea.Msg {
		defer clear(words)
		e := shareEntry{what: "card typed at the screen", tmpl: "card"}
		sh, err := shamir.ParseWords(words)
		if err != nil {
			e.err = err
			return shareMsg{e: e}
		}
		defer sh.Zero()
		e.index, e.holder = sh.Index, b.Holder(sh.Index)
		if e.err = b.CheckShare(lid, sh); e.err != nil {
			return shareMsg{e: e}
		}
		f := filepath.Join(dir, fmt.Sprintf("card-%d.txt", n+1))
		if e.err = shamir.WriteFile(f, words); e.err != nil {
			return shareMsg{e: e}
		}
		return shareMsg{e: e, src: ceremony.ShareSource{File: f}, tmp: f}
	}
}

// checkShareFile reads one share file as the engine will, checks it
// against the backup's commitment at once, and says which share it is.
// An age file is opened with the holder's key (its passphrase in the
// masked field) and handed to the engine as a private temporary text
// file, so the passphrase is asked once.
func (m *Model) checkShareFile(path, identity string) tea.Cmd {
	r := m.run
	dir, err := r.tmpDir()
	if err != nil {
		m.fail(err)
		return nil
	}
	m.busy = "checking the share in " + path
	b, lid, br := r.backup, m.led.State().LedgerID, m.br
	n := len(r.tmp)
	return func() tea.Msg {
		e := shareEntry{what: path}
		msg := func() tea.Msg {
			sh, age, err := ceremony.LoadShare(path, identity, br)
			if err != nil {
				e.err = err
				return shareMsg{e: e}
			}
			defer sh.Zero()
			e.index, e.holder = sh.Index, b.Holder(sh.Index)
			if e.err = b.CheckShare(lid, sh); e.err != nil {
				return shareMsg{e: e}
			}
			if !age {
				return shareMsg{e: e, src: ceremony.ShareSource{File: path}}
			}
			text, err := sh.Text()
			if err != nil {
				e.err = err
				return shareMsg{e: e}
			}
			defer clear(text)
			f := filepath.Join(dir, fmt.Sprintf("share-%d.txt", n+1))
			if e.err = shamir.WriteFile(f, text); e.err != nil {
				return shareMsg{e: e}
			}
			return shareMsg{e: e, src: ceremony.ShareSource{File: f}, tmp: f}
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
		wipeFile(msg.tmp)
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
	if msg.tmp != "" {
		r.tmp = append(r.tmp, msg.tmp)
	}
	r.entries = append(r.entries, e)
	if e.err != nil {
		wipeFile(msg.tmp)
		if e.index > 0 {
			m.fail(fmt.Errorf("share %d (holder %s) refused: %w", e.index, e.holder, e.err))
		} else {
			m.fail(fmt.Errorf("%s refused: %w", e.what, e.err))
		}
		return
	}
	r.sources = append(r.sources, msg.src)
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

// tmpDir is the private directory for typed cards and opened age files.
func (r *runState) tmpDir() (string, error) {
	if r.shareDir != "" {
		return r.shareDir, nil
	}
	d, err := os.MkdirTemp("", "custos-shares-")
	if err != nil {
		return "", fmt.Errorf("a private directory for shares: %w", err)
	}
	r.shareDir = d
	return d, nil
}

// wipeShares overwrites and removes the temporary share files.
func (r *runState) wipeShares() {
	for _, f := range r.tmp {
		wipeFile(f)
	}
	r.tmp = nil
	if r.shareDir != "" {
		os.RemoveAll(r.shareDir)
		r.shareDir = ""
	}
	clear(r.words)
	r.words = nil
}

// wipeFile overwrites a file with zeros before removing it.
func wipeFile(path string) {
	if path == "" {
		return
	}
	if fi, err := os.Stat(path); err == nil {
		if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			f.Write(make([]byte, fi.Size()))
			f.Sync()
			f.Close()
		}
	}
	os.Remove(path) // best effort, like the overwrite: there is no one to tell
}
