package ceremony

import (
	"crypto/subtle"
	"fmt"
	"os"
	"slices"
	"strings"

	"custos/hsm"
	"custos/internal/hint"
	"custos/ledger"
	"custos/shamir"
)

// How a share reaches its holder: to their SSH key on the roster (an age
// file), to a passphrase they type (an age file under scrypt), or as a
// printed word card only. The roster's key decides what is offered: age
// encrypts to ssh-ed25519 and ssh-rsa keys only, so a holder whose key is
// ECDSA or on a token is given a passphrase or a card. Everything is
// settled before the first record: the plan refuses a delivery the key
// cannot take, and the passphrases are asked (twice, never echoed) and
// checked for strength before the intent (docs/shares.md).

// ShareKey says how to open a share file a holder brings: an age file to
// an SSH key is opened with Identity (their OpenSSH private key), one to
// a passphrase with the passphrase read from PassphraseSource (file:PATH)
// or asked at the terminal.
type ShareKey struct {
	Identity         string
	PassphraseSource string
}

// splitOut says where and how the shares of a split go: a backup's, or
// the new shares of a reshare.
type splitOut struct {
	Holders           []string
	ShareDir          string
	Cards             bool
	Delivery          map[string]string
	PassphraseSources map[string]string
	ReadBack          map[string]string
}

// checkSplitScript checks the split a backup or a reshare script asks
// for (section names it in errors): 2 to shamir.MaxN holders, each once,
// a threshold of 2 to N, and each holder's delivery.
func checkSplitScript(bad func(path, msg, fix string) error, section string, threshold int, o splitOut) error {
	n := len(o.Holders)
	if n < 2 || n > shamir.MaxN {
		return bad(section+".holders", fmt.Sprintf("%d holders: a split needs 2 to %d", n, shamir.MaxN), "name at least two share holders")
	}
	if threshold < 2 {
		return bad(section+".threshold", fmt.Sprintf("threshold %d is refused: with 1 every share would be the key in clear", threshold), "choose 2 or more")
	}
	if threshold > n {
		return bad(section+".threshold", fmt.Sprintf("threshold %d is more than the %d holders", threshold, n), "M shares out of N holders: M ≤ N")
	}
	seen := map[string]bool{}
	for i, h := range o.Holders {
		if seen[h] {
			return bad(fmt.Sprintf("%s.holders[%d]", section, i), fmt.Sprintf("%q holds two shares", h), "each holder holds one share; two shares in one hand weaken the quorum")
		}
		seen[h] = true
	}
	return checkDeliveryScript(bad, section, o)
}

// checkDeliveryScript checks a script's delivery section on its own:
// each entry a holder and a delivery; a passphrase source only for a
// holder delivered by passphrase; a read-back key only for one by ssh.
func checkDeliveryScript(bad func(path, msg, fix string) error, sec string, o splitOut) error {
	holder := func(h string) bool { return slices.Contains(o.Holders, h) }
	for _, h := range sortedKeys(o.Delivery) {
		if !holder(h) {
			return bad(sec+".delivery."+h, fmt.Sprintf("%q is not a share holder", h), "")
		}
		if !slices.Contains(ledger.Deliveries, o.Delivery[h]) {
			return bad(sec+".delivery."+h, fmt.Sprintf("%q is not a delivery", o.Delivery[h]), "one of: "+strings.Join(ledger.Deliveries, ", "))
		}
	}
	for _, h := range sortedKeys(o.PassphraseSources) {
		if o.Delivery[h] != ledger.DeliveryPassphrase {
			return bad(sec+".passphrase_sources."+h, fmt.Sprintf("%s's share is not delivered by passphrase", h), "set "+sec+".delivery."+h+": passphrase, or remove the source")
		}
		if !strings.HasPrefix(o.PassphraseSources[h], "file:") {
			return bad(sec+".passphrase_sources."+h, "want file:PATH", "a passphrase is never written in a script: name a file of mode 0600, or leave it out to be asked at the terminal")
		}
	}
	for h := range o.ReadBack {
		if !holder(h) {
			return bad(sec+".read_back."+h, fmt.Sprintf("%q is not a share holder", h), "")
		}
		if d := o.Delivery[h]; d != "" && d != ledger.DeliverySSH {
			return bad(sec+".read_back."+h, fmt.Sprintf("%s's share is delivered by %s, not to their ssh key", h, d), "read_back names the holder's OpenSSH key; a passphrase share is read back with its passphrase, a card from the card")
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// planDeliveries settles each holder's delivery against the roster:
// the script's choice, or ssh where the key can take an age file; a
// choice the key cannot take is refused here, before anything happens.
// It returns holder → delivery.
func (e *Engine) planDeliveries(sec string, o splitOut) (map[string]string, error) {
	st := e.Ledger.State()
	out := map[string]string{}
	for i, h := range o.Holders {
		m := st.Roster.Member(h)
		if m == nil {
			return nil, hint.With(fmt.Errorf("%s: %s.holders[%d]: %q is not a member of the ledger's roster", e.Script.File, sec, i, h), "members: "+memberNames(st))
		}
		d := o.Delivery[h]
		keyType, _, _ := strings.Cut(m.Key, " ")
		switch {
		case d == "" && ledger.AgeRecipientKey(m.Key):
			d = ledger.DeliverySSH
		case d == "":
			return nil, hint.With(fmt.Errorf("%s: %s.holders[%d]: %s's key is %s: age cannot encrypt a share to it", e.Script.File, sec, i, h, keyType),
				fmt.Sprintf("set %s.delivery.%s: passphrase (an age file under a passphrase %s types) or card (a printed card only)", sec, h, h))
		case d == ledger.DeliverySSH && !ledger.AgeRecipientKey(m.Key):
			return nil, hint.With(fmt.Errorf("%s: %s.delivery.%s: %s's key is %s: age cannot encrypt a share to it", e.Script.File, sec, h, h, keyType),
				"ssh delivery needs an ssh-ed25519 or ssh-rsa key on the roster: choose passphrase or card")
		}
		if src := o.PassphraseSources[h]; src != "" {
			if _, err := os.Stat(strings.TrimPrefix(src, "file:")); err != nil {
				return nil, fmt.Errorf("%s: %s.passphrase_sources.%s: %w", e.Script.File, sec, h, err)
			}
		}
		out[h] = d
	}
	return out, nil
}

// deliverySteps says each holder's delivery in the plan.
func deliverySteps(holders []string, d map[string]string) string {
	var s []string
	for _, h := range holders {
		switch d[h] {
		case ledger.DeliverySSH:
			s = append(s, h+": age file to their ssh key")
		case ledger.DeliveryPassphrase:
			s = append(s, h+": age file to a passphrase they type")
		case ledger.DeliveryCard:
			s = append(s, h+": printed card only")
		}
	}
	return strings.Join(s, "; ")
}

// collectPassphrases asks each holder delivered by passphrase for it —
// from their passphrase source, or typed twice at the terminal — and
// checks its strength, before anything is recorded. Run calls it before
// the intent; forgetPassphrases wipes them.
func (e *Engine) collectPassphrases() error {
	o := e.splitOut()
	if o == nil {
		return nil
	}
	for _, h := range o.Holders {
		if e.deliveries[h] != ledger.DeliveryPassphrase {
			continue
		}
		p, err := e.askPassphrase(h, o.PassphraseSources[h])
		if err != nil {
			return err
		}
		if e.passphrases == nil {
			e.passphrases = map[string][]byte{}
		}
		e.passphrases[h] = p
	}
	return nil
}

// maxPassphraseTries bounds the questions at the terminal.
const maxPassphraseTries = 3

func (e *Engine) askPassphrase(holder, source string) ([]byte, error) {
	avoid := []string{holder, e.backupID, e.plan.Label, e.plan.KeyID, e.Ledger.State().LedgerID}
	if source != "" {
		p, err := hsm.ReadPINSource(source)
		if err != nil {
			return nil, fmt.Errorf("passphrase of %s's share: %w", holder, err)
		}
		if err := shamir.CheckPassphrase(p, avoid); err != nil {
			clear(p)
			return nil, fmt.Errorf("passphrase of %s's share (%s): %w", holder, source, err)
		}
		return p, nil
	}
	p := e.Prompt
	if p == nil {
		p = NoPrompt{}
	}
	var last error
	for range maxPassphraseTries {
		first, err := p.Secret(fmt.Sprintf("%s: new passphrase for your share of backup %s", holder, e.backupID))
		if err != nil {
			return nil, err
		}
		if err := shamir.CheckPassphrase(first, avoid); err != nil {
			clear(first)
			last = err
			e.say("%s: %v", holder, err)
			continue
		}
		again, err := p.Secret(fmt.Sprintf("%s: the same passphrase again", holder))
		if err != nil {
			clear(first)
			return nil, err
		}
		same := subtle.ConstantTimeCompare(first, again) == 1
		clear(again)
		if !same {
			clear(first)
			last = fmt.Errorf("passphrase of %s's share: the two entries differ", holder)
			e.say("%v", last)
			continue
		}
		return first, nil
	}
	return nil, hint.With(fmt.Errorf("passphrase of %s's share: no strong passphrase after %d tries: %w", holder, maxPassphraseTries, last),
		"nothing was recorded; run the ceremony again")
}

func (e *Engine) forgetPassphrases() {
	for h, p := range e.passphrases {
		clear(p)
		delete(e.passphrases, h)
	}
}

// splitOut is the split the ceremony makes: a backup's, a reshare's new
// shares, or nil.
func (e *Engine) splitOut() *splitOut {
	switch {
	case e.Script.Kind == KindBackup && e.Script.Backup != nil:
		b := e.Script.Backup
		return &splitOut{Holders: b.Holders, ShareDir: b.ShareDir, Cards: b.Cards, Delivery: b.Delivery, PassphraseSources: b.PassphraseSources, ReadBack: b.ReadBack}
	case e.Script.Kind == KindReshare && e.Script.Reshare != nil:
		r := e.Script.Reshare
		return &splitOut{Holders: r.Holders, ShareDir: r.ShareDir, Cards: r.Cards, Delivery: r.Delivery, PassphraseSources: r.PassphraseSources, ReadBack: r.ReadBack}
	}
	return nil
}

// sealShare encrypts a share's text form for its holder by their
// delivery: to their SSH key, or to their passphrase. A card-only
// delivery has no file (nil).
func (e *Engine) sealShare(holder string, text []byte) ([]byte, error) {
	switch e.deliveries[holder] {
	case ledger.DeliveryPassphrase:
		p := e.passphrases[holder]
		if len(p) == 0 {
			return nil, fmt.Errorf("no passphrase was asked for %s's share", holder)
		}
		return shamir.EncryptToPassphrase(p, text)
	case ledger.DeliveryCard:
		return nil, nil
	}
	return shamir.EncryptToSSH(e.Ledger.State().Roster.Member(holder).Key, text)
}

// readBackSealed opens a share file as it was read back from its medium
// (data): with the holder's passphrase, or with their OpenSSH key when the
// script names it. Without either there is nothing to open it with: the
// digest of what was read back is the check (a nil share).
func (e *Engine) readBackSealed(holder, file string, data []byte, keyFile string) (*shamir.Share, string, error) {
	switch {
	case e.deliveries[holder] == ledger.DeliveryPassphrase:
		plain, err := shamir.DecryptWithPassphrase(e.passphrases[holder], data)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", file, err)
		}
		defer clear(plain)
		sh, err := shamir.ParseText(plain)
		return sh, "re-read from the medium and decrypted with the holder's passphrase", err
	case keyFile != "":
		sh, _, err := OpenShare(file, data, ShareKey{Identity: keyFile}, e.Prompt)
		return sh, "re-read from the medium and decrypted with the holder's key", err
	}
	return nil, "re-read from the medium: sha256 matches", nil
}

// needsCard: holder gets a word card — every holder with cards: true, and
// one whose delivery is a card only.
func (o splitOut) needsCard(holder string, d map[string]string) bool {
	return o.Cards || d[holder] == ledger.DeliveryCard
}

// checkCards makes sure, before anything is recorded, that every holder
// who gets a card can be asked where it goes (section names the script's
// section in errors).
func (e *Engine) checkCards(section string, o splitOut) error {
	for i, h := range o.Holders {
		if !o.needsCard(h, e.deliveries) {
			continue
		}
		if e.Cards == nil {
			return hint.With(fmt.Errorf("%s: %s.holders[%d]: %s's card goes where %s chooses, and there is no one to ask here", e.Script.File, section, i, h, h),
				"run the ceremony at a terminal or in the TUI")
		}
		if a, ok := e.Cards.(CardAsker); ok {
			if err := a.CanAsk(h); err != nil {
				return fmt.Errorf("%s: %s.holders[%d]: card of %s: %w", e.Script.File, section, i, h, err)
			}
		}
	}
	return nil
}

// openAge decrypts an age share file as its holder brings it: to a
// passphrase (the one stanza is scrypt), with the passphrase from
// k.PassphraseSource or asked through p; to an SSH key, with k.Identity.
// The caller zeroes the result.
func openAge(path string, data []byte, k ShareKey, p Prompter) ([]byte, error) {
	if !shamir.IsPassphraseFile(data) {
		if k.Identity == "" {
			return nil, hint.With(fmt.Errorf("%s is encrypted (age) to an ssh key and no identity is given to open it", path),
				"name the holder's OpenSSH private key (identity:, --identity) for this share")
		}
		var ask func() ([]byte, error)
		if p != nil {
			ask = func() ([]byte, error) { return p.Secret("passphrase of " + k.Identity) }
		}
		plain, err := shamir.DecryptWithSSHKey(k.Identity, ask, data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return plain, nil
	}
	var pass []byte
	var err error
	if k.PassphraseSource != "" {
		pass, err = hsm.ReadPINSource(k.PassphraseSource)
	} else {
		if p == nil {
			p = NoPrompt{}
		}
		pass, err = p.Secret("passphrase of the share " + path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s is encrypted to a passphrase: %w", path, err)
	}
	defer clear(pass)
	plain, err := shamir.DecryptWithPassphrase(pass, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return plain, nil
}

// isPassphraseShare reports whether the file at path is an age file
// encrypted to a passphrase.
func isPassphraseShare(path string) bool {
	data, err := ReadShareFile(path)
	if err != nil {
		return false
	}
	defer clear(data)
	return isAge(data) && shamir.IsPassphraseFile(data)
}

// deliveryFacts is holder → delivery as a fact.
func deliveryFacts(d map[string]string) map[string]any {
	out := make(map[string]any, len(d))
	for h, v := range d {
		out[h] = v
	}
	return out
}
