package ledger

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"custos/ledger/internal/canonical"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors")

// vector is one file of testdata/vectors: an input record (any spacing and
// key order), its canonical bytes and digests. Other implementations check
// themselves against these files.
type vector struct {
	Comment       string          `json:"comment"`
	Input         json.RawMessage `json:"input"`
	Canonical     string          `json:"canonical"`
	Digest        string          `json:"digest"`
	SigningDigest string          `json:"signing_digest"`
}

var vectorInputs = map[string]string{
	"genesis-like": `{"version":1,"seq":1,"time":"2026-03-01T09:00:00Z","ledger":"test-ledger","ceremony":"genesis",
		"kind":"ledger.genesis","actor":"alice","facts":{"z":1,"a":[true,false,null]},"approvals":[]}`,
	"escapes-and-unicode": `{ "approvals" : [ {"signature":"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n","member":"carol"} ],
		"facts": {"label":"<root> & \"key\"\t\u0001 é 鍵 😀", "nested":{"b":{"y":-5,"x":0},"a":[]}, "n": 9007199254740993},
		"seq": 2, "prev": "sha256:07b833654f3cb9a231fe171c52df93f08bd339b8487a207f4e539d64ef8840d7",
		"time": "2026-03-01T09:01:00Z", "ledger": "test-ledger", "ceremony": "gen-1", "kind": "key.generate.intent",
		"actor": "alice", "version": 1}`,
	"key-ordering": `{"version":1,"seq":3,"prev":"sha256:0000000000000000000000000000000000000000000000000000000000000000",
		"time":"2026-12-31T23:59:59Z","ledger":"L","ceremony":"c","kind":"key.generated","actor":"bob",
		"facts":{"key_id":"k","B":1,"a":2,"é":3,"_":4,"aa":5,"a b":6},"approvals":[]}`,
}

func TestVectors(t *testing.T) {
	dir := filepath.Join("testdata", "vectors")
	if *update {
		os.MkdirAll(dir, 0o755)
		for name, in := range vectorInputs {
			r, err := DecodeRecord([]byte(in))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			c, _ := r.Canonical()
			d, _ := r.Digest()
			sd, _ := r.SigningDigest()
			var compact bytes.Buffer
			json.Compact(&compact, []byte(in))
			v := vector{Comment: "input record -> canonical bytes -> digest (sha256 of canonical), signing_digest (sha256 of canonical without approvals)",
				Input: compact.Bytes(), Canonical: string(c), Digest: d, SigningDigest: sd}
			b, _ := json.MarshalIndent(v, "", "  ")
			os.WriteFile(filepath.Join(dir, name+".json"), append(b, '\n'), 0o644)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) < 3 {
		t.Fatalf("%d vectors in %s", len(files), dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v vector
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		r, err := DecodeRecord(v.Input)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		c, _ := r.Canonical()
		d, _ := r.Digest()
		sd, _ := r.SigningDigest()
		if string(c) != v.Canonical || d != v.Digest || sd != v.SigningDigest {
			t.Errorf("%s:\n got %s\n     %s %s\nwant %s\n     %s %s", f, c, d, sd, v.Canonical, v.Digest, v.SigningDigest)
		}
		if digestOf([]byte(v.Canonical)) != v.Digest {
			t.Errorf("%s: digest is not sha256 of the canonical bytes", f)
		}
	}
}

func TestCanonical(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{map[string]any{"b": 1, "a": "x<y>&"}, `{"a":"x<y>&","b":1}`},
		{[]any{nil, true, "\u2028\n\x7f"}, "[null,true,\"\u2028\\n\x7f\"]"},
		{struct {
			Z int    `json:"z"`
			A string `json:"a"`
		}{1, "é"}, `{"a":"é","z":1}`},
		{map[string]any{"n": json.Number("-0")}, `{"n":0}`},
	} {
		got, err := canonical.Marshal(c.in)
		if err != nil || string(got) != c.want {
			t.Errorf("canonical.Marshal(%v) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []any{1.5, map[string]any{"f": 0.1}, "\xff", json.Number("1e3"), json.Number("99999999999999999999")} {
		if _, err := canonical.Marshal(bad); err == nil {
			t.Errorf("canonical.Marshal(%v) accepted", bad)
		}
	}
}

func TestDecodeRecordStrict(t *testing.T) {
	good := vectorInputs["genesis-like"]
	for name, in := range map[string]string{
		"unknown field":   strings.Replace(good, `"version":1`, `"version":1,"extra":2`, 1),
		"duplicate field": strings.Replace(good, `"version":1`, `"version":1,"version":1`, 1),
		"float":           strings.Replace(good, `"z":1`, `"z":1.0`, 1),
		"exponent":        strings.Replace(good, `"z":1`, `"z":1e2`, 1),
		"bad version":     strings.Replace(good, `"version":1`, `"version":2`, 1),
		"string seq":      strings.Replace(good, `"seq":1`, `"seq":"1"`, 1),
		"missing facts":   strings.Replace(good, `"facts":{"z":1,"a":[true,false,null]},`, ``, 1),
		"local time":      strings.Replace(good, `09:00:00Z`, `09:00:00+01:00`, 1),
		"fraction time":   strings.Replace(good, `09:00:00Z`, `09:00:00.5Z`, 1),
		"prev on genesis": strings.Replace(good, `"seq":1`, `"seq":1,"prev":"sha256:00"`, 1),
		"no prev":         strings.Replace(good, `"seq":1`, `"seq":2`, 1),
		"trailing data":   good + "{}",
		"invalid utf-8":   strings.Replace(good, `alice`, "al\xffce", 1),
		"bad actor":       strings.Replace(good, `"alice"`, `"Alice Smith"`, 1),
		"approval extra":  strings.Replace(good, `"approvals":[]`, `"approvals":[{"member":"a","signature":"s","x":1}]`, 1),
		"not object":      `[]`,
		"carried empty":   strings.Replace(good, `"approvals":[]`, `"approvals":[{"carried":"","member":"a","signature":"s"}]`, 1),
		"carried no hash": strings.Replace(good, `"approvals":[]`, `"approvals":[{"carried":"carol.sig","member":"a","signature":"s"}]`, 1),
		"carried number":  strings.Replace(good, `"approvals":[]`, `"approvals":[{"carried":1,"member":"a","signature":"s"}]`, 1),
		"carried alone":   strings.Replace(good, `"approvals":[]`, `"approvals":[{"carried":"sha256:`+strings.Repeat("0", 64)+`","member":"a"}]`, 1),
	} {
		if _, err := DecodeRecord([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := DecodeRecord([]byte(good)); err != nil {
		t.Fatal(err)
	}
}

// TestCarriedApproval: an approval carried as a file keeps the file's
// digest through encode, decode and the stored form, and the digest stays
// out of what approvers sign.
func TestCarriedApproval(t *testing.T) {
	r, err := DecodeRecord([]byte(vectorInputs["genesis-like"]))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := r.SigningDigest()
	d := "sha256:" + strings.Repeat("ab", 32)
	r.Approvals = []Approval{{Member: "bob", Signature: "s1"}, {Member: "carol", Signature: "s2", Carried: d}}
	c, err := r.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if want := `"approvals":[{"member":"bob","signature":"s1"},{"carried":"` + d + `","member":"carol","signature":"s2"}]`; !strings.Contains(string(c), want) {
		t.Fatalf("canonical form %s lacks %s", c, want)
	}
	r2, _, signing, err := decodeStored(append(c, '\n'))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, r2) {
		t.Fatalf("decoded %+v, want %+v", r2.Approvals, r.Approvals)
	}
	if signing != before {
		t.Fatalf("signing digest changed with the approvals: %s, was %s", signing, before)
	}
	r.Approvals[1].Carried = "sha256:12"
	if _, err := r.Canonical(); err == nil {
		t.Fatal("a carried that is not a sha256 digest encoded")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, in := range vectorInputs {
		f.Add([]byte(in))
	}
	f.Add([]byte(`{"facts":{"a":[[[[[]]]]]}}`))
	f.Add([]byte(`{"version":1,"seq":1e400}`))
	f.Add([]byte(strings.Repeat("[", 10000)))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRecord(data)
		if err != nil {
			return
		}
		c, err := r.Canonical()
		if err != nil {
			t.Fatalf("accepted record does not encode: %v", err)
		}
		r2, err := DecodeRecord(c)
		if err != nil {
			t.Fatalf("canonical form does not decode: %v\n%s", err, c)
		}
		c2, _ := r2.Canonical()
		if !bytes.Equal(c, c2) || !reflect.DeepEqual(r, r2) {
			t.Fatalf("decode∘encode is not the identity:\n%s\n%s", c, c2)
		}
		// verify's decoder: the stored form only, with the same record,
		// canonical bytes and signing digest as the encoder gives
		r3, canon, signing, err := decodeStored(append(c, '\n'))
		if err != nil {
			t.Fatalf("stored form refused: %v\n%s", err, c)
		}
		want, _ := r.SigningDigest()
		if !bytes.Equal(canon, c) || signing != want || !reflect.DeepEqual(r, r3) {
			t.Fatalf("decodeStored: signing %s, want %s\n%s", signing, want, c)
		}
		if !bytes.Equal(data, c) && !bytes.Equal(data, append(c, '\n')) {
			if _, _, _, err := decodeStored(append(bytes.TrimSuffix(data, []byte("\n")), '\n')); err == nil {
				t.Fatalf("decodeStored accepted a non-canonical form:\n%s", data)
			}
		}
	})
}

func TestWords(t *testing.T) {
	// The PGP word list's published example.
	got := strings.Join(Words("E58294F2E9A227486E8B061B31CC528FD7FA3F19"), " ")
	want := "topmost Istanbul Pluto vagabond treadmill Pacific brackish dictator goldfish Medusa afflict bravado chatter revolver Dupont midsummer stopwatch whimsical cowbell bottomless"
	if got != want {
		t.Fatalf("Words:\n got %s\nwant %s", got, want)
	}
	seen := map[string]bool{}
	for i := range 256 {
		for _, w := range []string{evenWords[i], oddWords[i]} {
			if w == "" || seen[strings.ToLower(w)] {
				t.Fatalf("word %d %q empty or repeated", i, w)
			}
			seen[strings.ToLower(w)] = true
		}
	}
	if len(Words("sha256:"+strings.Repeat("00", 32))) != 32 || Words("xyz") != nil {
		t.Fatal("Words of a digest / of garbage")
	}
}

// TestKeyFileIsCanonical: the hand-written keys/<id>.json encoder agrees
// with Canonical.
func TestKeyFileIsCanonical(t *testing.T) {
	k := &KeyState{ID: "k1", Label: "root <1>", Type: "ec-p384", State: KeyActive, CreatedSeq: 3, CreatedTime: "2026-01-01T00:00:00Z",
		Facts:   map[string]any{"key_id": "k1", "n": json.Number("5"), "x": []any{true, nil}},
		History: []KeyEvent{{Seq: 3, Kind: "key.generate.intent", Time: "2026-01-01T00:00:00Z"}, {Seq: 4, Kind: "key.generated", Time: "2026-01-01T00:01:00Z"}}}
	for _, k := range []*KeyState{k, {ID: "k2", State: KeyAborted, Facts: map[string]any{}, History: []KeyEvent{}}} {
		want, err := canonical.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		if got := keyFile(k); string(got) != string(want)+"\n" {
			t.Fatalf("keyFile:\n%s\nCanonical:\n%s", got, want)
		}
	}
}

// FuzzParseCanonical checks that canonical.Parse accepts exactly the
// canonical encodings: what it accepts re-encodes to the same bytes, and
// whatever parses as JSON and re-encodes to itself, it accepts, with the
// same value.
func FuzzParseCanonical(f *testing.F) {
	for _, in := range vectorInputs {
		f.Add([]byte(in))
		if v, err := canonical.ParseJSON([]byte(in)); err == nil {
			c, _ := canonical.Marshal(v)
			f.Add(c)
		}
	}
	for _, s := range []string{`{"a":"\u001f\n\"\\","b":[-1,0,true,false,null,{}]}`, `"\u0041"`, `"\/"`, `-0`, `01`, `{"b":1,"a":2}`, `{"a":1,"a":2}`, `"\u000a"`, `[1,]`, `{"a":1}x`, " 1", "\"\x01\"", `"é"`, `"\u001F"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := canonical.Parse(data)
		if err == nil {
			c, err := canonical.Marshal(v)
			if err != nil || !bytes.Equal(c, data) {
				t.Fatalf("accepted %q, which encodes as %q (%v)", data, c, err)
			}
		}
		w, err2 := canonical.ParseJSON(data)
		if err2 != nil {
			return
		}
		if c, _ := canonical.Marshal(w); bytes.Equal(c, data) {
			if err != nil {
				t.Fatalf("refused canonical %q: %v", data, err)
			}
			if !reflect.DeepEqual(v, w) {
				t.Fatalf("%q: canonical.Parse gives %#v, canonical.ParseJSON %#v", data, v, w)
			}
		}
	})
}

// FuzzForms holds the hand-written checks of names to the regular
// expressions that define them (record.go).
func FuzzForms(f *testing.F) {
	forms := []struct {
		name string
		re   *regexp.Regexp
		fn   func(string) bool
	}{
		{"kind", regexp.MustCompile(`^[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*$`), validKind},
		{"name", regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`), validName},
		{"digest", regexp.MustCompile(`^sha256:[0-9a-f]{64}$`), validDigest},
	}
	for _, s := range []string{"", "a", "key.generate.intent", "a..b", "a.", "-a", "A", "alice", "bob-2", "a_b_", "gen-1.x", "Key_07",
		"sha256:" + strings.Repeat("ab", 32), "sha256:" + strings.Repeat("AB", 32), strings.Repeat("a", 33), strings.Repeat("a", 65), "é", "a\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, fm := range forms {
			want := fm.re.MatchString(s) && (fm.name != "kind" || len(s) <= 64)
			if got := fm.fn(s); got != want {
				t.Fatalf("%s %q: check says %v, the expression %v", fm.name, s, got, want)
			}
		}
	})
}
