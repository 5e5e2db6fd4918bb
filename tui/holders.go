// After a backup: each share holder in turn at the screen, alone, with
// their own entry (never the share), the check of their file with their
// own key, and their word card.

package tui

import (
	"custos/ceremony"
	"custos/internal/media"
	"custos/ledger"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
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
// just recorded: among the records after from (the ledger's size before
// the run), not the whole history.
func backupHolders(l *ledger.Ledger, cer string, from int64) ([]holderShare, error) {
	var split *ledger.Record
	for seq := from + 1; seq <= l.State().Seq; seq++ {
		rec, err := l.Record(seq)
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
