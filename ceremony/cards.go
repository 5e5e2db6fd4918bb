package ceremony

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"custos/internal/hint"
	"custos/shamir"
)

// CardSink is how a front end hands each holder their word card during a
// backup with cards: true. The engine calls it one holder at a time, in
// share order, while that share is in memory: the holder, alone at the
// workstation, names where their card goes; the engine writes it there
// (or the front end shows it). Cards are never written side by side into
// one folder.
type CardSink interface {
	// Where asks holder where their card (share index of n) goes: a
	// path for a new file (their removable medium), a printer device
	// (a character device such as /dev/usb/lp0), or CardScreen. An error
	// stops the backup before anything is recorded. After a failed
	// delivery it is asked again, with the failure in failed.
	Where(holder string, index, n int, failed error) (string, error)
	// Show shows the card to holder alone and returns once they are done
	// with it; the front end clears it from the screen then. The engine
	// zeroes card afterwards.
	Show(holder string, card []byte) error
}

// CardScreen is the destination that shows a card on the screen, to its
// holder alone, instead of writing it anywhere.
const CardScreen = "screen"

// maxCardTries bounds how often a holder is asked again after a failed
// delivery of their card.
const maxCardTries = 5

// deliverCard puts the card of share sh where its holder chooses and, when
// it went to a file, reads it back from there and checks it against the
// share and its commitment. It returns how the card was delivered, for
// the holder's entry in backup.split (a destination, never a word).
func (e *Engine) deliverCard(sh *shamir.Share, c shamir.Commitment, holder string) (string, error) {
	card, err := sh.Card()
	if err != nil {
		return "", err
	}
	defer clear(card)
	var failed error
	for range maxCardTries {
		dest, err := e.Cards.Where(holder, sh.Index, sh.N, failed)
		if err != nil {
			return "", fmt.Errorf("card of share %d for %s: %w", sh.Index, holder, err)
		}
		how, err := e.putCard(dest, card, sh, c, holder)
		if err == nil {
			e.say("card of share %d for %s: %s", sh.Index, holder, how)
			return how, nil
		}
		failed = err
		e.say("card of share %d for %s: %v", sh.Index, holder, err)
	}
	return "", fmt.Errorf("card of share %d for %s: %w", sh.Index, holder, failed)
}

func (e *Engine) putCard(dest string, card []byte, sh *shamir.Share, c shamir.Commitment, holder string) (string, error) {
	dest = strings.TrimSpace(dest)
	switch {
	case dest == "":
		return "", errors.New("no destination given")
	case dest == CardScreen:
		if err := e.Cards.Show(holder, card); err != nil {
			return "", err
		}
		return "shown on the screen to " + holder + " alone", nil
	}
	if fi, err := os.Stat(dest); err == nil {
		switch {
		case fi.Mode()&fs.ModeCharDevice != 0:
			if err := printCard(dest, card); err != nil {
				return "", err
			}
			return "sent to the printer " + dest, nil
		case fi.IsDir():
			return "", hint.With(fmt.Errorf("%s is a directory", dest), "name a new file in it, e.g. "+filepath.Join(dest, fmt.Sprintf("%s-card%d.txt", sh.BackupID, sh.Index)))
		}
	}
	_, back, err := writeReadBack(dest, card)
	if err != nil {
		return "", err
	}
	got, err := shamir.ParseWords(back)
	clear(back)
	if err != nil {
		return "", fmt.Errorf("read back card %s: %w", dest, err)
	}
	err = checkReadBack(got, sh, c)
	got.Zero()
	if err != nil {
		return "", fmt.Errorf("read back card %s: %w", dest, err)
	}
	return "written to " + dest + ", read back and checked", nil
}

// printCard writes the card to a printer device: it already exists, so
// it is opened for writing only, never created.
func printCard(dev string, card []byte) error {
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("printer %s: %w", dev, err)
	}
	_, err = f.Write(card)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("printer %s: %w", dev, err)
	}
	return nil
}

// CardAsker is a CardSink that can tell, before anything is done, whether
// it will be able to ask holder (a command line without a terminal
// cannot, unless the destination was given beforehand).
type CardAsker interface {
	CanAsk(holder string) error
}
