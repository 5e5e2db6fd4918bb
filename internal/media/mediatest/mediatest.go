// Package mediatest mounts real FAT32 and exFAT images for tests: made by
// mkfs.vfat (dosfstools) and mkfs.exfat (exfatprogs), mounted through FUSE
// (fusefat; exfat-fuse on a loop device), as the kernel may have no vfat
// module. scripts/setup.sh installs the tools; tests fail without them.
package mediatest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// TB is the part of TB these helpers use (so a testscript
// command can mount images too).
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// FAT32 makes a FAT32 image of size bytes in a temporary directory, mounts
// it read-write with fusefat and returns the mount point; the test's
// cleanup unmounts it.
func FAT32(t TB, size int64) string {
	t.Helper()
	need(t, "mkfs.vfat", "dosfstools")
	need(t, "fusefat", "fusefat")
	need(t, "fusermount", "fuse")
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "fat32.img"), filepath.Join(dir, "mnt")
	mkimg(t, img, size)
	// -F 32 even for a small image: mkfs.vfat warns, the layout is FAT32.
	run(t, "mkfs.vfat", "-F", "32", img) // no label: fusefat lists it as a file
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	run(t, "fusefat", "-o", "rw+", img, mnt)
	waitMounted(t, mnt)
	t.Cleanup(func() { unmount(t, mnt) })
	return mnt
}

// ExFAT makes an exFAT image of size bytes, attaches it to a loop device
// and mounts it with exfat-fuse (which wants a block device when run as
// root); the test's cleanup unmounts and detaches it.
func ExFAT(t TB, size int64) string {
	t.Helper()
	need(t, "mkfs.exfat", "exfatprogs")
	need(t, "mount.exfat-fuse", "exfat-fuse")
	need(t, "losetup", "mount")
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "exfat.img"), filepath.Join(dir, "mnt")
	mkimg(t, img, size)
	run(t, "mkfs.exfat", "-L", "CUSTOS", img)
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	dev := strings.TrimSpace(run(t, "losetup", "-f", "--show", img))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	run(t, "mount.exfat-fuse", dev, mnt)
	waitMounted(t, mnt)
	t.Cleanup(func() { unmount(t, mnt) })
	return mnt
}

// Fill writes one file of zeros at dir/name until the medium is full, so
// that only about free bytes are left (0: none).
func Fill(t TB, dir string, free int64) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Sync()
	if free > 0 {
		fi, _ := f.Stat()
		f.Truncate(max(0, fi.Size()-free))
		f.Sync()
	}
}

func mkimg(t TB, img string, size int64) {
	t.Helper()
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func need(t TB, prog, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(prog); err != nil {
		t.Fatalf("%s is required (Debian package %s; scripts/setup.sh installs it)", prog, pkg)
	}
}

func run(t TB, prog string, args ...string) string {
	t.Helper()
	out, err := exec.Command(prog, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func waitMounted(t TB, mnt string) {
	t.Helper()
	for range 100 {
		if b, err := os.ReadFile("/proc/self/mounts"); err == nil && strings.Contains(string(b), " "+mnt+" ") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s was not mounted", mnt)
}

func unmount(t TB, mnt string) {
	for i := range 50 {
		err := exec.Command("fusermount", "-u", mnt).Run()
		if err == nil {
			return
		}
		time.Sleep(time.Duration(i+1) * 20 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "mediatest: could not unmount %s\n", mnt)
	exec.Command("fusermount", "-u", "-z", mnt).Run()
}
