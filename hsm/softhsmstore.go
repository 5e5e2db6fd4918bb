package hsm

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrStoreDamaged: the module's own store holds a token it can no longer
// read, so the token is missing from its slot list.
var ErrStoreDamaged = errors.New("the token's store is damaged")

// DamagedStore is one token directory of SoftHSM's file store that SoftHSM
// cannot load.
type DamagedStore struct {
	Dir    string // the token's directory
	Reason string // e.g. "token.object is empty"
}

func (d DamagedStore) String() string { return d.Dir + " (" + d.Reason + ")" }

// DamagedStores lists the token directories of a SoftHSM module's file
// store whose token.object is missing or empty. SoftHSM rewrites
// token.object in place at C_Login (and at C_InitPIN, C_SetPIN), so a
// kill there can leave it empty; SoftHSM then skips the token without a
// word and it is gone from every slot. Other modules keep their stores
// their own way: for them, and where the store cannot be found, nil.
func (m *Module) DamagedStores() []DamagedStore {
	if info, err := m.Info(); err != nil || !strings.Contains(info.Manufacturer, "SoftHSM") {
		return nil
	}
	dir := softhsmTokenDir()
	if dir == "" {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []DamagedStore
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(filepath.Join(p, "token.object"))
		switch {
		case errors.Is(err, os.ErrNotExist):
			out = append(out, DamagedStore{p, "token.object is missing"})
		case err != nil:
			out = append(out, DamagedStore{p, "token.object cannot be read: " + err.Error()})
		case fi.Size() == 0:
			out = append(out, DamagedStore{p, "token.object is empty"})
		}
	}
	return out
}

// softhsmTokenDir is directories.tokendir of the configuration SoftHSM
// reads: $SOFTHSM2_CONF, else the default path. A relative tokendir is
// relative to the working directory, as SoftHSM takes it.
func softhsmTokenDir() string {
	conf := os.Getenv("SOFTHSM2_CONF")
	if conf == "" {
		conf = "/etc/softhsm/softhsm2.conf"
	}
	f, err := os.Open(conf)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && strings.TrimSpace(k) == "directories.tokendir" {
			if d, err := filepath.Abs(strings.TrimSpace(v)); err == nil {
				return d
			}
		}
	}
	return ""
}

// storeDamaged names the damaged stores in a token-not-found error.
func storeDamaged(m *Module, err error) error {
	ds := m.DamagedStores()
	if len(ds) == 0 {
		return err
	}
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.String()
	}
	return fmt.Errorf("%w; %w: %s (SoftHSM rewrites token.object in place at login, and a kill there empties it)",
		err, ErrStoreDamaged, strings.Join(names, ", "))
}
