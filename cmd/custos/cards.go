package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"custos/ceremony"
	"custos/internal/hint"
)

// ttyCards is the command line's ceremony.CardSink: each holder, alone at
// the terminal, names where their word card goes — unless --card-to
// named it beforehand. The card itself is only ever shown on /dev/tty,
// never on standard output (which may be logged), and the screen and its
// scroll-back are cleared afterwards.
type ttyCards struct {
	to   map[string]string // --card-to NAME=DEST
	used map[string]bool
}

func newTTYCards(flags []string) (*ttyCards, error) {
	c := &ttyCards{to: map[string]string{}, used: map[string]bool{}}
	for _, kv := range flags {
		name, dest, ok := strings.Cut(kv, "=")
		if !ok || name == "" || dest == "" {
			return nil, hint.With(fmt.Errorf("run: --card-to %q is not NAME=DEST", kv), "for example --card-to carol=/media/carol/card.txt, or --card-to carol=screen")
		}
		if _, dup := c.to[name]; dup {
			return nil, fmt.Errorf("run: --card-to names %s twice", name)
		}
		c.to[name] = dest
	}
	return c, nil
}

// CanAsk says before the backup starts whether holder's card has somewhere
// to go.
func (c *ttyCards) CanAsk(holder string) error {
	if _, ok := c.to[holder]; ok {
		return nil
	}
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return hint.With(fmt.Errorf("%s names where their card goes at the terminal, and there is none", holder),
			"run at a terminal, or give --card-to "+holder+"=PATH|DEVICE|screen")
	}
	f.Close()
	return nil
}

func (c *ttyCards) Where(holder string, index, n int, failed error) (string, error) {
	if dest, ok := c.to[holder]; ok && !c.used[holder] {
		c.used[holder] = true
		return dest, nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		if failed != nil {
			return "", failed
		}
		return "", fmt.Errorf("no terminal to ask %s where their card goes", holder)
	}
	defer tty.Close()
	if failed != nil {
		fmt.Fprintf(tty, "That did not work: %v\n", failed)
	} else {
		fmt.Fprintf(tty, "\nShare holder %s (share %d of %d): come to the terminal alone; everyone else, look away.\n", holder, index, n)
	}
	fmt.Fprintf(tty, "%s, where does your word card go? A new file on your own medium, a printer device (e.g. /dev/usb/lp0), or \"screen\": ", holder)
	line, err := bufio.NewReader(tty).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("nothing read from the terminal for %s's card", holder)
	}
	return strings.TrimSpace(line), nil
}

func (c *ttyCards) Show(holder string, card []byte) error {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("no terminal to show %s their card", holder)
	}
	defer tty.Close()
	// clear the screen, show the card, wait, clear screen and scroll-back
	fmt.Fprintf(tty, "\x1b[2J\x1b[H%s, your card (only you look):\n\n", holder)
	tty.Write(card)
	fmt.Fprintf(tty, "\nCopy it by hand, check it, then press enter; the screen is cleared.")
	_, err = bufio.NewReader(tty).ReadString('\n')
	fmt.Fprint(tty, "\x1b[2J\x1b[3J\x1b[H")
	if err != nil {
		return fmt.Errorf("nothing read from the terminal after %s's card", holder)
	}
	return nil
}

var _ ceremony.CardSink = (*ttyCards)(nil)
