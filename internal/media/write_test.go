package media_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"custos/internal/hint"
	"custos/internal/media"
	"custos/internal/media/mediatest"
)

// onEach runs f on a plain temporary directory, a FAT32 image (fusefat)
// and an exFAT image (exfat-fuse).
func onEach(t *testing.T, f func(t *testing.T, dir string)) {
	t.Run("tmp", func(t *testing.T) { f(t, t.TempDir()) })
	t.Run("fat32", func(t *testing.T) { f(t, mediatest.FAT32(t, 8<<20)) })
	t.Run("exfat", func(t *testing.T) { f(t, mediatest.ExFAT(t, 8<<20)) })
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestWriteReadBack(t *testing.T) {
	onEach(t, func(t *testing.T, dir string) {
		p := filepath.Join(dir, "kek.wrapped")
		data := bytes.Repeat([]byte("wrapped key "), 1000)
		if err := media.Write(p, data, media.Secret); err != nil {
			t.Fatal(err)
		}
		got, err := media.Check(p, media.SHA256(data))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("check: %v", err)
		}
		if n := names(t, dir); len(n) != 1 || n[0] != "kek.wrapped" {
			t.Fatalf("directory holds %v, want only kek.wrapped", n)
		}
		// FAT has no modes; elsewhere a secret is 0600
		if fi, _ := os.Stat(p); filepath.Base(dir) != "mnt" && fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", fi.Mode().Perm())
		}
		// never over a file, and the old one is untouched
		err = media.Write(p, []byte("other"), media.Secret)
		if !errors.Is(err, fs.ErrExist) || hint.Of(err) == "" {
			t.Fatalf("second write: %v, want exists with a hint", err)
		}
		if b, _ := os.ReadFile(p); !bytes.Equal(b, data) {
			t.Fatal("the existing file was changed")
		}
		// a digest that is not the file's
		if _, err := media.Check(p, media.SHA256([]byte("x"))); err == nil || !strings.Contains(err.Error(), "read back "+p) {
			t.Fatalf("check of a wrong digest: %v", err)
		}
	})
}

func TestWriteModeUnderUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	p := filepath.Join(dir, "s")
	if err := media.Write(p, []byte("x"), media.Secret); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestWriteFailureLeavesNothing(t *testing.T) {
	onEach(t, func(t *testing.T, dir string) {
		p := filepath.Join(dir, "report.html")
		boom := errors.New("render failed")
		err := media.WriteWith(p, media.Public, func(w io.Writer) error {
			w.Write(bytes.Repeat([]byte("x"), 200<<10))
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err %v", err)
		}
		if n := names(t, dir); len(n) != 0 {
			t.Fatalf("left %v", n)
		}
	})
}

func TestWriteIncompleteLeftover(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "share.age")
	if err := os.WriteFile(media.IncompleteName(p), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := media.Write(p, []byte("whole"), media.Secret)
	if err == nil || !strings.Contains(err.Error(), ".share.age.incomplete is already there") || hint.Of(err) == "" {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Lstat(p); err == nil {
		t.Fatal("wrote under the final name")
	}
	if b, _ := os.ReadFile(media.IncompleteName(p)); string(b) != "half" {
		t.Fatal("the leftover was touched")
	}
}

func TestWriteRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	os.Symlink(filepath.Join(dir, "elsewhere"), p)
	if err := media.Write(p, []byte("x"), media.Secret); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "elsewhere")); err == nil {
		t.Fatal("followed the symlink")
	}
	// a symlink planted at the incomplete name is not followed either
	q := filepath.Join(dir, "out2")
	os.Symlink(filepath.Join(dir, "elsewhere"), media.IncompleteName(q))
	if err := media.Write(q, []byte("x"), media.Secret); err == nil {
		t.Fatal("wrote through a symlink at the incomplete name")
	}
	if _, err := os.Lstat(filepath.Join(dir, "elsewhere")); err == nil {
		t.Fatal("followed the symlink")
	}
}

// A full medium: the error names it, and nothing is left — neither under
// the final name nor under the incomplete one.
func TestWriteFullMedium(t *testing.T) {
	for _, c := range []struct {
		name  string
		mount func(mediatest.TB, int64) string
	}{{"fat32", mediatest.FAT32}, {"exfat", mediatest.ExFAT}} {
		t.Run(c.name, func(t *testing.T) {
			dir := c.mount(t, 8<<20)
			mediatest.Fill(t, dir, 8<<10)
			p := filepath.Join(dir, "kek.wrapped")
			err := media.Write(p, bytes.Repeat([]byte("k"), 1<<20), media.Secret)
			if err == nil {
				t.Fatal("a 1 MiB write onto a full medium succeeded")
			}
			var ns *media.NoSpaceError
			if !errors.As(err, &ns) || !strings.Contains(err.Error(), "no space left on "+dir) {
				t.Fatalf("err %q, want no space left on %s", err, dir)
			}
			if n := names(t, dir); len(n) != 1 || n[0] != "filler" {
				t.Fatalf("left %v", n)
			}
		})
	}
}
