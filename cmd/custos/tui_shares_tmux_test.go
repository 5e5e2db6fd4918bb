package main

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"custos/hsm/hsmtest"
)

// TestTUIBackupRestoreLeavesNoPlaintextShare drives, in tmux at 80×24, a
// backup 2-of-3 with word cards (carol copies hers from the screen, dave
// and erin send theirs to a file on their own medium) and, after the key
// is destroyed, a restore whose shares are entered one by one: carol's age
// file with her key, and dave's card typed word by word. Then it searches
// every file of $TMPDIR, /tmp, /dev/shm, /var/tmp, $HOME, the test's dir
// and the ledger (work tree, .git and every git object inflated) for every
// form of every share — the text line, its value in base32, hex, base64
// and raw, and any six consecutive words of a card however they are
// spaced — and fails naming the file. The places the holders chose (dave's
// and erin's media) are the only ones left out. The tmux scroll-back,
// once carol's card screen is left, holds none of her card's words.
func TestTUIBackupRestoreLeavesNoPlaintextShare(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is required (scripts/setup.sh installs it)")
	}
	if _, err := exec.LookPath("age"); err != nil {
		t.Fatal("age is required (scripts/setup.sh installs it)")
	}
	dir := t.TempDir()
	bin := os.Getenv("CUSTOS_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "custos")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	bin, _ = filepath.Abs(bin)
	if !leakFileExists(bin) {
		t.Fatalf("CUSTOS_BIN=%s: no such file", bin)
	}
	// custos and this test share a fresh $TMPDIR and $HOME of their own.
	tmp, home := filepath.Join(dir, "tmpdir"), filepath.Join(dir, "home")
	for _, d := range []string{tmp, home} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("TMPDIR", tmp)
	t.Setenv("HOME", home)

	names := []string{"alice", "bob", "carol", "dave", "erin"}
	roles := map[string]string{"bob": "officer"}
	var roster strings.Builder
	roster.WriteString("members:\n")
	for _, n := range names {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", n, "-f", filepath.Join(dir, n)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		pub, _ := os.ReadFile(filepath.Join(dir, n+".pub"))
		role := roles[n]
		if role == "" {
			role = "custodian"
		}
		fmt.Fprintf(&roster, "  - name: %s\n    roles: [%s]\n    key: %s\n", n, role, strings.TrimSpace(string(pub)))
	}
	roster.WriteString("policy:\n  approvals:\n")
	for _, k := range []string{"key.generate.intent", "backup.intent", "key.restore.intent", "key.destroy.intent"} {
		fmt.Fprintf(&roster, "    %s: {roles: [officer], count: 1}\n", k)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("roster.yaml", roster.String())

	tok, err := hsmtest.NewStandalone(filepath.Join(dir, "hsm"), "tui-bk")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"SOFTHSM2_CONF=" + tok.Conf, "NO_COLOR=1", "HOME=" + home, "TMPDIR=" + tmp}
	custos := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("custos %v: %v\n%s", args, err, out)
		}
	}
	keys := []string{"--key", "alice=alice", "--key", "bob=bob"}
	custos(append([]string{"init", "L", "--roster", "roster.yaml", "--key", "carol=carol", "--key", "dave=dave", "--key", "erin=erin"}, keys...)...)
	write("enroll.yaml", fmt.Sprintf("kind: enroll\nhsm: %q\noperator: alice\n", tok.URI))
	custos(append([]string{"run", "enroll.yaml", "--ledger", "L"}, keys...)...)
	write("gen.yaml", fmt.Sprintf("kind: generate\nceremony: gen-root\nhsm: %q\noperator: alice\nwitnesses: [bob]\nkey: {label: root-tui, type: aes-256, owner: payments, purpose: wraps the data keys, backup: true}\n", tok.URI))
	custos(append([]string{"run", "gen.yaml", "--ledger", "L"}, keys...)...)

	shareDir, wrapped := filepath.Join(dir, "shares"), filepath.Join(dir, "media", "root.wrapped")
	media := map[string]string{}
	for _, n := range []string{"dave", "erin"} {
		media[n] = filepath.Join(dir, n+"-medium")
		if err := os.Mkdir(media[n], 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Dir(wrapped), 0o700); err != nil {
		t.Fatal(err)
	}
	write("backup.yaml", fmt.Sprintf(`kind: backup
ceremony: bk-tui
hsm: %q
so_pin_source: "file:%s"
operator: alice
witnesses: [bob]
backup:
  key: root-tui
  id: root-tui.bk1
  threshold: 2
  holders: [carol, dave, erin]
  media: %s
  share_dir: %s
  cards: true
`, tok.URI, tok.SOPINFile, wrapped, shareDir))

	tm := &tmuxTerm{t: t, socket: fmt.Sprintf("custos-shares-%d", os.Getpid()), shots: map[string]string{}}
	t.Cleanup(func() { exec.Command("tmux", "-L", tm.socket, "kill-server").Run() })
	start := func() {
		shell := fmt.Sprintf("cd %s && env %s TERM=xterm-256color %s tui L; sleep 600", dir, strings.Join(env, " "), bin)
		tm.tmux("-f", "/dev/null", "new-session", "-d", "-s", "ui", "-x", "80", "-y", "24", shell)
	}
	// seen is every screen shown before carol's card: the words the UI
	// itself uses (labels, digests read aloud), which may be card words too.
	seen := map[string]bool{}
	look := func(want ...string) string {
		t.Helper()
		s := tm.waitFor("", want...)
		for _, w := range leakWords(s) {
			seen[w] = true
		}
		return s
	}
	// steps ticks through every step of the run, however many there are.
	stepRe := regexp.MustCompile(`step (\d+) of (\d+)`)
	steps := func() {
		t.Helper()
		m := stepRe.FindStringSubmatch(look("step 1 of"))
		n, _ := strconv.Atoi(m[2])
		for i := 1; i <= n; i++ {
			look(fmt.Sprintf("step %d of %d", i, n))
			tm.tickAll()
		}
	}
	run := func(script string, want ...string) {
		t.Helper()
		tm.keys("r")
		look("Which ceremony?")
		tm.text(script)
		tm.keys("Enter")
		look(append([]string{"What will happen"}, want...)...)
		tm.keys("Enter")
	}
	sign := func() {
		t.Helper()
		tm.present("")
		tm.keys("c")
		look("What is signed", "→ now alice (operator)")
		tm.keys("Enter")
		look("→ now bob (approver)")
		tm.keys("Enter")
		steps()
	}

	// 1. The backup, with a card for every holder.
	start()
	look("Members", "carol", "dave", "erin", "root-tui")
	run("backup.yaml", "ceremony bk-tui (backup)")
	sign()
	look("carol alone: where does your card")
	tm.text("screen")
	tm.keys("Enter")
	// and every word of the TUI's and the engine's own texts
	srcs, _ := filepath.Glob("../../tui/*.go")
	more, _ := filepath.Glob("../../ceremony/*.go")
	if len(srcs) == 0 || len(more) == 0 {
		t.Fatal("the sources of packages tui and ceremony are not at ../../tui and ../../ceremony")
	}
	for _, p := range append(srcs, more...) {
		for _, w := range leakWords(leakRead(t, p)) {
			seen[w] = true
		}
	}
	beforeCard := maps.Clone(seen)
	cardScreen := tm.waitFor("", "carol: your card — only you look", "# custos share card")
	carolCard := leakCardWords(cardScreen)
	if len(carolCard) < 30 {
		t.Fatalf("carol's card screen shows %d words", len(carolCard))
	}
	tm.keys("Enter")
	for _, n := range []string{"dave", "erin"} {
		look(n + " alone: where does your card")
		tm.text(filepath.Join(media[n], "card.txt"))
		tm.keys("Enter")
	}
	for i, n := range []string{"carol", "dave", "erin"} {
		tm.waitFor("", fmt.Sprintf("Share holder %d of 3: %s", i+1, n))
		if i == 0 {
			// carol's card is gone from the screen and its scroll-back
			leakNoCardWords(t, "the pane once carol's card screen was left", tm.tmux("capture-pane", "-p", "-S", "-", "-t", "ui"), carolCard, beforeCard)
		}
		tm.keys("Enter")
		tm.waitFor("", n+": your share", "read back from the medium and checked")
		tm.keys("Enter")
	}
	tm.waitFor("", "Ceremony bk-tui is closed")
	tm.keys("Enter")
	tm.waitFor("", "Members")
	tm.keys("q")
	time.Sleep(500 * time.Millisecond)
	leakNoCardWords(t, "the pane after the TUI quit", tm.tmux("capture-pane", "-p", "-S", "-", "-t", "ui"), carolCard, beforeCard)
	tm.tmux("kill-session", "-t", "ui")

	// 2. The key is destroyed; a restore brings it back from carol's age
	// file and dave's card, typed word by word.
	write("destroy.yaml", fmt.Sprintf("kind: destroy\nceremony: kill-root\nhsm: %q\noperator: alice\ndestroy: {key: root-tui, reason: lost, confirm: root-tui}\n", tok.URI))
	custos(append([]string{"run", "destroy.yaml", "--ledger", "L"}, keys...)...)
	carolAge := filepath.Join(shareDir, "root-tui.bk1-share1-carol.age")
	daveCardFile := filepath.Join(media["dave"], "card.txt")
	write("restore.yaml", fmt.Sprintf(`kind: restore
ceremony: rs-tui
hsm: %q
operator: alice
witnesses: [bob]
restore:
  backup: root-tui.bk1
  media: %s
  shares:
    - file: %s
      identity: %s
    - file: %s
`, tok.URI, wrapped, carolAge, filepath.Join(dir, "carol"), daveCardFile))
	daveCard := leakCardWords(leakRead(t, daveCardFile))
	start()
	look("Members", "root-tui", "destroyed")
	run("restore.yaml", "ceremony rs-tui (restore)")
	look("0 of the 2 needed")
	tm.keys("f")
	look("share1-carol.age")
	tm.keys("Enter") // the first listed: carol's age file
	look("is encrypted: type the holder's key file")
	tm.keys("Enter") // her key, as listed
	look("share 1 of carol accepted")
	beforeTyping := maps.Clone(seen)
	tm.keys("w")
	for l := 0; l*6 < len(daveCard); l++ {
		look("A share card, typed line by line", fmt.Sprintf("line %d of the card", l+1))
		line := daveCard[l*6 : min(len(daveCard), l*6+6)]
		for j, w := range line {
			if j > 0 {
				tm.text(" ")
			}
			tm.text(w)
		}
		// the field is masked: none of the line typed shows
		leakNoCardWords(t, fmt.Sprintf("the screen with line %d of dave's card typed", l+1), tm.tmux("capture-pane", "-p", "-S", "-", "-t", "ui"), daveCard, beforeTyping)
		tm.keys("Enter")
	}
	look(fmt.Sprintf("line %d of the card", (len(daveCard)+5)/6+1))
	tm.keys("Enter") // an empty line: the card is done
	look("share 2 of dave accepted", "Enough good shares")
	tm.keys("c")
	sign()
	look("Ceremony rs-tui is closed", "share 1 (holder carol) accepted", "share 2 (holder dave) accepted", "restored key")
	tm.keys("Enter")
	look("Members", "root-tui")
	tm.keys("q")
	time.Sleep(500 * time.Millisecond)
	leakNoCardWords(t, "the pane after the restore", tm.tmux("capture-pane", "-p", "-S", "-", "-t", "ui"), daveCard, beforeTyping)
	tm.tmux("kill-session", "-t", "ui")

	// 3. Every share's secret forms, from the holders' own copies: the age
	// files opened with stock age and each holder's key, and the cards.
	var pats []leakForm
	var ledgerID, backupID string
	for i, n := range []string{"carol", "dave", "erin"} {
		age := filepath.Join(shareDir, fmt.Sprintf("root-tui.bk1-share%d-%s.age", i+1, n))
		out, err := exec.Command("age", "-d", "-i", filepath.Join(dir, n), age).Output()
		if err != nil {
			t.Fatalf("age -d %s: %v", age, err)
		}
		text := strings.TrimSpace(string(out))
		pats = append(pats, leakShareForms(t, n, text)...)
		if f := strings.Split(text, ":"); len(f) == 7 {
			ledgerID, backupID = f[1], f[2]
		}
		clear(out)
	}
	erinCard := leakCardWords(leakRead(t, filepath.Join(media["erin"], "card.txt")))
	cards := map[string][]string{"carol": carolCard, "dave": daveCard, "erin": erinCard}
	for n, c := range cards {
		if len(c) < 30 {
			t.Fatalf("%s's card has %d words", n, len(c))
		}
	}
	// A card's first lines carry only the envelope's public head (version,
	// ledger and backup ids, m, n, index, value length), the same on every
	// card: a run of words wholly inside them is no secret.
	head := 8 + len(ledgerID) + len(backupID)
	newScanner := func() *leakScanner { return newLeakScanner(pats, cards, head) }
	sc := newScanner()

	// A planted copy of a card, spaced and numbered as printed but cut at
	// another line break, is found: the search can fail.
	t.Run("planted", func(t *testing.T) {
		sc := newScanner()
		p := filepath.Join(tmp, "planted")
		defer os.RemoveAll(p)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		ws := erinCard[len(erinCard)-10 : len(erinCard)-4]
		body := "notes\n" + strings.ToUpper(strings.Join(ws[:2], "   ")) + "\n07\t" + strings.Join(ws[2:], ",") + "\n"
		if err := os.WriteFile(filepath.Join(p, "card"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := sc.file(filepath.Join(p, "card")); got != fmt.Sprintf("%s: erin's card (words %d to %d)", filepath.Join(p, "card"), len(erinCard)-9, len(erinCard)-4) {
			t.Errorf("six of erin's card words in %s: found %q", p, got)
		}
		if got := sc.file(filepath.Join(tmp, "../hsm/user.pin")); got != "" {
			t.Errorf("a file with no share: found %q", got)
		}
		public := erinCard[:6]
		if err := os.WriteFile(filepath.Join(p, "head"), []byte(strings.Join(public, " ")), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := sc.file(filepath.Join(p, "head")); got != "" {
			t.Errorf("the public head of a card: found %q", got)
		}
		// The last run wholly in the head is no secret; one word on, it is.
		last := 0
		for st := 0; st+cardRun <= len(erinCard) && publicWord(st+cardRun-1, head); st++ {
			last = st
		}
		for st, want := range map[int]bool{last: false, last + 1: true} {
			q := filepath.Join(p, fmt.Sprintf("run%d", st))
			if err := os.WriteFile(q, []byte(strings.Join(erinCard[st:st+cardRun], " ")), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := sc.file(q); (got != "") != want {
				t.Errorf("erin's card words %d to %d (secret: %v): found %q", st+1, st+cardRun, want, got)
			}
		}
		text := strings.TrimSpace(leakAge(t, filepath.Join(dir, "dave"), filepath.Join(shareDir, "root-tui.bk1-share2-dave.age")))
		value := strings.Split(text, ":")[5]
		raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(value))
		for form, b := range map[string]string{"text": text, "upper": strings.ToUpper(value), "hex": hex.EncodeToString(raw),
			"base64, shifted": "x" + base64.StdEncoding.EncodeToString(append([]byte{7}, raw...)), "raw": "\x00" + string(raw)} {
			q := filepath.Join(p, strings.ReplaceAll(form, " ", "_"))
			if err := os.WriteFile(q, []byte("abc"+b+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := sc.file(q); !strings.Contains(got, "dave's share") {
				t.Errorf("dave's share (%s) in %s is not found: %q", form, q, got)
			}
		}
		clear(raw)
	})

	skip := []string{media["dave"], media["erin"]}
	roots := []string{tmp, "/tmp", "/dev/shm", "/var/tmp", home, filepath.Join(dir, "L"), dir}
	t0 := time.Now()
	seenDir := map[string]bool{}
	for _, r := range roots {
		sc.walk(r, skip, seenDir)
	}
	// git objects are compressed on disk: every one of the ledger's,
	// reachable or not, inflated.
	objs, err := exec.Command("git", "-C", filepath.Join(dir, "L"), "cat-file", "--batch-all-objects", "--batch").Output()
	if err != nil {
		t.Fatalf("git cat-file: %v", err)
	}
	sc.bytes("every git object of L, inflated", objs)
	t.Logf("searched %d files, %d bytes (%d skipped as larger than 50 MB, %d unreadable) and %d bytes of git objects in %v, for %d text forms and %d card words",
		sc.files, sc.n, sc.big, sc.unreadable, len(objs), time.Since(t0).Round(time.Millisecond), len(pats), len(carolCard)+len(daveCard)+len(erinCard))
	for _, f := range sc.found {
		t.Errorf("a plaintext share is on disk: %s", f)
	}
}

func leakFileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func leakRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func leakAge(t *testing.T, key, file string) string {
	t.Helper()
	out, err := exec.Command("age", "-d", "-i", key, file).Output()
	if err != nil {
		t.Fatalf("age -d %s: %v", file, err)
	}
	return string(out)
}

// leakCardWords is the words of a card, in order: its numbered lines ("01  w
// w w w w  c"), wherever they are (a file or a screen), without the
// numbers, "#" lines and anything else.
func leakCardWords(s string) []string {
	re := regexp.MustCompile(`(?m)^\s*\d\d\s+((?:[a-z]+ +)*[a-z]+)\s*$`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		out = append(out, strings.Fields(m[1])...)
	}
	return out
}

// leakWords is every run of lower-case letters of s.
func leakWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r < 'a' || r > 'z' })
}

// leakNoCardWords fails if the pane shows two consecutive words of the card,
// or one of its words that no screen before the card showed.
func leakNoCardWords(t *testing.T, where, pane string, card []string, seen map[string]bool) {
	t.Helper()
	got := leakWords(pane)
	in := map[string]bool{}
	for i, w := range got {
		in[w] = true
		if i > 0 {
			for j := 1; j < len(card); j++ {
				if got[i-1] == card[j-1] && w == card[j] {
					t.Fatalf("%s shows two consecutive words of a card (words %d and %d)", where, j, j+1)
				}
			}
		}
	}
	for j, w := range card {
		if in[w] && !seen[w] {
			t.Fatalf("%s shows word %d of a card, which no earlier screen showed", where, j+1)
		}
	}
}

// leakForm is one secret form of a share, searched as bytes.
type leakForm struct {
	what string
	b    []byte
}

// leakShareForms is every form of a share text line to look for: the line
// (lower and upper case), its value in base32 (both cases), the value's
// bytes raw, in hex (both cases) and in base64 (standard and URL, at each
// of the three alignments it may have inside a longer encoding).
func leakShareForms(t *testing.T, holder, text string) []leakForm {
	t.Helper()
	f := strings.Split(text, ":")
	if len(f) != 7 || !strings.HasPrefix(text, "custos-share-1:") {
		t.Fatalf("%s's age file does not hold a share text line", holder)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(f[5]))
	if err != nil || len(raw) < 16 {
		t.Fatalf("%s's share value: %v", holder, err)
	}
	what := holder + "'s share"
	out := []leakForm{{what + " (text line)", []byte(text)}, {what + " (text line)", []byte(strings.ToUpper(text))},
		{what + " (value, base32)", []byte(f[5])}, {what + " (value, base32)", []byte(strings.ToUpper(f[5]))},
		{what + " (value, raw)", raw}, {what + " (value, hex)", []byte(hex.EncodeToString(raw))},
		{what + " (value, hex)", []byte(strings.ToUpper(hex.EncodeToString(raw)))}}
	for i := range 3 {
		b := raw[i:]
		b = b[:len(b)/3*3]
		out = append(out, leakForm{what + " (value, base64)", []byte(base64.RawStdEncoding.EncodeToString(b))},
			leakForm{what + " (value, base64url)", []byte(base64.RawURLEncoding.EncodeToString(b))})
	}
	return out
}

// leakScanner searches files for the patterns (each at least 15 bytes: an
// 8-byte window of every occurrence starts at a multiple of 8, so only
// those are looked up) and for any six consecutive words of a card, the
// words being runs of ASCII letters in any case, whatever lies between.
type leakScanner struct {
	grams map[uint64][]leakGram
	bits  []uint64
	// cards: each card's words packed in a uint64 (at most 8 letters)
	cards map[string][]uint64
	words map[uint64]bool
	// head: the bytes of the envelope's public head; a run is secret when
	// it holds a word that is not wholly in it (publicWord)
	head int

	found                  []string
	files, big, unreadable int
	n                      int64
	seenFound              map[string]bool
}

type leakGram struct {
	p   *leakForm
	off int
}

const cardRun = 6 // consecutive card words that are a leak

func newLeakScanner(pats []leakForm, cards map[string][]string, head int) *leakScanner {
	s := &leakScanner{head: head, grams: map[uint64][]leakGram{}, bits: make([]uint64, 1<<14), cards: map[string][]uint64{}, words: map[uint64]bool{}, seenFound: map[string]bool{}}
	for i := range pats {
		p := &pats[i]
		if len(p.b) < 15 {
			panic("leakForm too short: " + p.what)
		}
		for off := range 8 {
			k := binary.LittleEndian.Uint64(p.b[off:])
			s.grams[k] = append(s.grams[k], leakGram{p, off})
			h := leakHash(k)
			s.bits[h>>6] |= 1 << (h & 63)
		}
	}
	for n, c := range cards {
		for _, w := range c {
			k := leakPack([]byte(w))
			s.cards[n] = append(s.cards[n], k)
			s.words[k] = true
		}
	}
	return s
}

// publicWord reports whether the word at position p (0-based) of a card
// tells only the envelope's public head of head bytes: a data word whose
// 11 bits all lie in the head, or the check word of a line wholly in it.
// Lines are five data words and a check word.
func publicWord(p, head int) bool {
	line, w := p/6, p%6
	if w == 5 {
		return (line*5+5)*11 <= head*8
	}
	return (line*5+w+1)*11 <= head*8
}

func leakHash(k uint64) uint64 { return (k * 0x9E3779B97F4A7C15) >> 44 }

// pack is a word of at most 8 ASCII letters, lower-cased, as a number.
func leakPack(w []byte) uint64 {
	var k uint64
	for _, c := range w {
		k = k<<8 | uint64(c|0x20)
	}
	return k
}

func (s *leakScanner) report(where, what string) {
	if k := where + ": " + what; !s.seenFound[k] {
		s.seenFound[k] = true
		s.found = append(s.found, k)
	}
}

// bytes searches one buffer; it returns what it found there.
func (s *leakScanner) bytes(where string, b []byte) string {
	before := len(s.found)
	s.n += int64(len(b))
	for i := 0; i+8 <= len(b); i += 8 {
		k := binary.LittleEndian.Uint64(b[i:])
		if h := leakHash(k); s.bits[h>>6]&(1<<(h&63)) == 0 {
			continue
		}
		for _, g := range s.grams[k] {
			if st := i - g.off; st >= 0 && bytes.HasPrefix(b[st:], g.p.b) {
				s.report(where, g.p.what)
			}
		}
	}
	// card words: the last run tokens, and for each card the positions
	// where the last tokens match it
	var last []uint64
	named := map[string]bool{} // a card found here is named once, at its first run
	for i := 0; i < len(b); {
		c := b[i] | 0x20
		if c < 'a' || c > 'z' {
			i++
			continue
		}
		j := i
		for j < len(b) && b[j]|0x20 >= 'a' && b[j]|0x20 <= 'z' {
			j++
		}
		var k uint64
		if j-i <= 8 {
			k = leakPack(b[i:j])
		}
		i = j
		if !s.words[k] {
			last = last[:0]
			continue
		}
		if last = append(last, k); len(last) > cardRun {
			last = last[1:]
		}
		if len(last) < cardRun {
			continue
		}
		for n, c := range s.cards {
			if named[n] {
				continue
			}
		next:
			for st := 0; st+cardRun <= len(c); st++ {
				public := true
				for x := range cardRun {
					if c[st+x] != last[x] {
						continue next
					}
					public = public && publicWord(st+x, s.head)
				}
				if public {
					continue
				}
				s.report(where, fmt.Sprintf("%s's card (words %d to %d)", n, st+1, st+cardRun))
				named[n] = true
				break
			}
		}
	}
	return strings.Join(s.found[before:], "; ")
}

// file searches one regular file, not following links nor opening
// anything else (a FIFO would block).
func (s *leakScanner) file(p string) string {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		s.unreadable++
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return ""
	}
	if st.Size() > 50<<20 {
		s.big++
		return ""
	}
	b := make([]byte, st.Size())
	n, err := f.ReadAt(b, 0)
	if n == 0 && err != nil && st.Size() > 0 {
		s.unreadable++
		return ""
	}
	s.files++
	return s.bytes(p, b[:n])
}

// walk searches every regular file under root but those under skip; a
// directory met twice (the roots overlap) is searched once.
func (s *leakScanner) walk(root string, skip []string, seen map[string]bool) {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // gone, or not ours to read: other work runs beside
		}
		if d.IsDir() {
			for _, x := range append(skip, "/proc", "/sys") {
				if p == x {
					return filepath.SkipDir
				}
			}
			if seen[p] {
				return filepath.SkipDir
			}
			seen[p] = true
			return nil
		}
		if d.Type().IsRegular() {
			s.file(p)
		}
		return nil
	})
}
