package main

import (
	"os"
	"path/filepath"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"

	"custos/internal/media/mediatest"
)

// cmdMountFAT: mountfat NAME SIZE — a FAT32 image of SIZE bytes (mkfs.vfat)
// mounted read-write through FUSE (fusefat) at $WORK/NAME-image/mnt, named
// in $NAME; unmounted when the script ends. mountexfat NAME SIZE: the same
// with exFAT (mkfs.exfat, exfat-fuse on a loop device).
func cmdMountFAT(ts *testscript.TestScript, neg bool, args []string) {
	mountImage(ts, neg, args, mediatest.FAT32)
}

func cmdMountExFAT(ts *testscript.TestScript, neg bool, args []string) {
	mountImage(ts, neg, args, mediatest.ExFAT)
}

func mountImage(ts *testscript.TestScript, neg bool, args []string, mount func(mediatest.TB, int64) string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mountfat|mountexfat NAME SIZE")
	}
	size, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	tb := &scriptTB{ts: ts, dir: ts.MkAbs(args[0] + "-image")}
	ts.Check(os.MkdirAll(tb.dir, 0o700))
	ts.Setenv(args[0], mount(tb, size))
	ts.Defer(tb.cleanup)
}

// cmdFill: fill DIR — fills the medium DIR is on until nothing is free.
func cmdFill(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: fill DIR")
	}
	mediatest.Fill(&scriptTB{ts: ts}, ts.MkAbs(args[0]), 0)
}

// scriptTB is the little of testing.TB that mediatest needs, for a script.
type scriptTB struct {
	ts    *testscript.TestScript
	dir   string
	n     int
	clean []func()
}

func (s *scriptTB) Helper()                   {}
func (s *scriptTB) Fatalf(f string, a ...any) { s.ts.Fatalf(f, a...) }
func (s *scriptTB) Fatal(a ...any)            { s.ts.Fatalf("%v", a...) }
func (s *scriptTB) Cleanup(f func())          { s.clean = append(s.clean, f) }
func (s *scriptTB) TempDir() string {
	s.n++
	d := filepath.Join(s.dir, strconv.Itoa(s.n))
	s.ts.Check(os.MkdirAll(d, 0o700))
	return d
}
func (s *scriptTB) cleanup() {
	for i := len(s.clean) - 1; i >= 0; i-- {
		s.clean[i]()
	}
}
