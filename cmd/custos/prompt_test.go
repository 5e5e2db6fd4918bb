package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ptyDriver runs argv on a new pseudo-terminal (its controlling terminal,
// so /dev/tty is the pty), waits for the prompt, types the line, and
// prints everything the terminal showed.
const ptyDriver = `
import os, pty, sys, time
prompt, line, argv = sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out, typed = b"", False
deadline = time.time() + 20
while time.time() < deadline:
    try:
        b = os.read(fd, 4096)
    except OSError:
        break
    if not b:
        break
    out += b
    if not typed and prompt in out:
        time.sleep(0.2)
        os.write(fd, line + b"\n")
        typed = True
os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
`

// TestReadSecretTerminal: the secret typed at the prompt on the terminal
// is read whole, without its newline, and the terminal does not echo it.
func TestReadSecretTerminal(t *testing.T) {
	if os.Getenv("CUSTOS_TEST_READ_SECRET") == "1" {
		s, err := readSecret("token PIN")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Printf("read %d bytes, %v\n", len(s), bytes.Equal(s, []byte("4711-geheim")))
		os.Exit(0)
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is needed to drive a pseudo-terminal (scripts/setup.sh installs it)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", "-c", ptyDriver, "token PIN: ", "4711-geheim", self, "-test.run", "^TestReadSecretTerminal$")
	cmd.Env = append(os.Environ(), "CUSTOS_TEST_READ_SECRET=1")
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the prompt did not finish")
	}
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	shown := string(out)
	if !strings.Contains(shown, "read 11 bytes, true") {
		t.Fatalf("the secret was not read as typed; the terminal showed %q", shown)
	}
	if strings.Contains(shown, "4711") {
		t.Fatalf("the terminal echoed the secret: %q", shown)
	}
}
