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
	"custos/internal/media"
	"custos/ledger"
	"custos/shamir"
)

// holderShare is what one holder is shown of their share after a backup:
// where it was written and how it was checked, never its contents.
type holderShare struct {
	name, file, card, readBack, commitment, sha, backup string
	index, n, m                                         int
	// checked: the holder opened their file, as read back from the
	// medium, with their own key, and it is their share
	checked string
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
		e.backup, _ = split.Facts["backup_id"].(string)
		out = append(out, e)
	}
	return out, nil
}

// keyHolder: each holder in turn. Between holders the screen holds only
// the hand-over message, so nobody sees another holder's entry.
func (m *Model) keyHolder(msg tea.KeyPressMsg) tea.Cmd {
	r := m.run
	if r.alone && msg.String() == "k" {
		h := r.holders[r.holder]
		return m.ask("holdercheck", "your OpenSSH private key file, to open "+filepath.Base(h.file)+" as read back from the medium", "")
	}
	if !key.Matches(msg, Keys.Enter) {
		m.scrollKeys(msg)
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
		out = append(out, "  and your word card: "+h.card)
	}
	out = append(out, "",
		s.OK.Render("  ✓ written, read back from the medium and checked"),
		"    how: "+h.readBack,
		"    file sha256: "+hexRows(17, h.sha),
		"    commitment:  "+hexRows(17, h.commitment),
		"",
		"")
	if h.checked != "" {
		out = append(out, s.OK.Render("  ✓ "+h.checked), "")
	} else {
		out = append(out, "  k: open your file with your own key now, to see it is yours and intact.", "")
	}
	out = append(out, "  Take the file (removable media) into your custody now. Its contents are",
		"  never shown here. Press enter to confirm; the screen is then cleared.")
	return out, "k: check with my key · enter: I have my share file, its check passed"
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

// --- backup: each holder's word card, one holder at a time ---

// cardAskMsg asks a holder, alone at the screen, where their card goes.
type cardAskMsg struct {
	holder   string
	index, n int
	failed   error
	reply    chan cardReply
}

type cardReply struct {
	dest string
	err  error
}

// cardShowMsg shows a holder their card; done is answered when they are
// finished with it and it is gone from the screen.
type cardShowMsg struct {
	holder string
	card   []byte
	done   chan error
}

// tuiCards is the TUI's ceremony.CardSink: the engine, running inside a
// tea.Cmd, asks through the bridge and waits for the holder's answer.
type tuiCards struct{ br *bridge }

func (c tuiCards) Where(holder string, index, n int, failed error) (string, error) {
	reply := make(chan cardReply, 1)
	c.br.events <- cardAskMsg{holder: holder, index: index, n: n, failed: failed, reply: reply}
	r := <-reply
	return r.dest, r.err
}

func (c tuiCards) Show(holder string, card []byte) error {
	done := make(chan error, 1)
	c.br.events <- cardShowMsg{holder: holder, card: slices.Clone(card), done: done}
	return <-done
}

// onCardAsk shows the hand-over and asks the holder for a destination.
func (m *Model) onCardAsk(msg cardAskMsg) tea.Cmd {
	r := m.run
	if r == nil {
		msg.reply <- cardReply{err: errCancelled}
		return m.br.listen()
	}
	r.cardFor, r.cardReply = msg.holder, msg.reply
	if msg.failed != nil {
		m.fail(msg.failed)
	}
	return tea.Batch(m.ask("card", fmt.Sprintf("%s alone: where does your card (share %d of %d) go? a new file, a printer device, or screen", msg.holder, msg.index, msg.n), ""), m.br.listen())
}

// submitCard answers the engine with the holder's destination ("" when
// they cancelled: the engine asks again, then stops).
func (m *Model) submitCard(v string) tea.Cmd {
	r := m.run
	if r == nil || r.cardReply == nil {
		return nil
	}
	reply := r.cardReply
	r.cardReply, r.cardFor = nil, ""
	if v == "" {
		reply <- cardReply{err: errCancelled}
	} else {
		reply <- cardReply{dest: v}
	}
	return nil
}

// onCardShow puts the card on the screen for its holder alone.
func (m *Model) onCardShow(msg cardShowMsg) tea.Cmd {
	r := m.run
	if r == nil {
		clear(msg.card)
		msg.done <- errCancelled
		return m.br.listen()
	}
	r.card, r.cardDone, r.cardFor = msg.card, msg.done, msg.holder
	m.busy = ""
	return m.br.listen()
}

// keyCard: enter when the holder is done with their card; it is zeroed
// and the screen shows the run again.
func (m *Model) keyCard(msg tea.KeyPressMsg) tea.Cmd {
	r := m.run
	if !key.Matches(msg, Keys.Enter) {
		return nil
	}
	clear(r.card)
	r.card = nil
	r.cardFor = ""
	done := r.cardDone
	r.cardDone = nil
	m.busy = "the ceremony runs: do not pull the token"
	done <- nil
	return nil
}

// cardBody is the screen while a holder handles their card.
func (m *Model) cardBody() ([]string, string) {
	s, r := m.st, m.run
	if r.card == nil {
		return []string{s.Heading.Render("Share holder " + r.cardFor + ": your word card"), "",
			s.Actor.Render("  → now: " + r.cardFor + " comes to the screen alone"),
			"  Everyone else: please step back and look away from the screen.", "",
			"  " + r.cardFor + ": name where your card goes — a new file on your own",
			"  medium, a printer device (e.g. /dev/usb/lp0), or \"screen\" to copy it",
			"  by hand from here. It goes nowhere else."}, "enter: send the card there · esc: cancel"
	}
	out := []string{s.Heading.Render(r.cardFor + ": your card — only you look")}
	for _, l := range strings.Split(strings.TrimRight(string(r.card), "\n"), "\n") {
		out = append(out, "  "+l)
	}
	return append(out, s.Actor.Render("  Copy it by hand and check it; enter clears it from the screen.")), "enter: I have copied my card"
}

type holderCheckMsg struct {
	holder int
	msg    string
	err    error
}

// checkHolderShare: the holder opens their share file, re-read from the
// medium, with their own key; it must be their share of this backup. The
// share is zeroed at once; nothing is written or recorded.
func (m *Model) checkHolderShare(identity string) tea.Cmd {
	r := m.run
	if identity == "" {
		return nil
	}
	i, h := r.holder, r.holders[r.holder]
	m.busy = "opening " + filepath.Base(h.file) + " with " + h.name + "'s key"
	l, br := m.led, m.br
	return func() tea.Msg {
		res := func() holderCheckMsg {
			b, err := ceremony.LoadBackup(l, h.backup)
			if err != nil {
				return holderCheckMsg{holder: i, err: err}
			}
			data, err := media.ReadBack(h.file)
			if err != nil {
				return holderCheckMsg{holder: i, err: err}
			}
			defer clear(data)
			sh, err := b.CheckOwnShare(l.State().LedgerID, h.name, h.file, data, ceremony.ShareKey{Identity: identity}, br)
			if err != nil {
				return holderCheckMsg{holder: i, err: err}
			}
			sh.Zero()
			return holderCheckMsg{holder: i, msg: fmt.Sprintf("opened with your key: share %d of backup %s, yours, intact, matches its commitment", h.index, h.backup)}
		}()
		br.events <- res
		return nil
	}
}

func (m *Model) onHolderCheck(msg holderCheckMsg) tea.Cmd {
	m.busy = ""
	r := m.run
	if r == nil || msg.holder >= len(r.holders) {
		return m.br.listen()
	}
	if msg.err != nil {
		m.fail(msg.err)
	} else {
		r.holders[msg.holder].checked = msg.msg
		m.say("%s checked share %d with their own key", r.holders[msg.holder].name, r.holders[msg.holder].index)
	}
	return m.br.listen()
}
