package hsm_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"custos/hsm"
)

func TestParseURI(t *testing.T) {
	u, err := hsm.ParseURI("pkcs11:token=Cere%20mony;object=root-2025;id=%01%02%ff;type=private;slot-id=3;serial=ABC123;manufacturer=SoftHSM%20project;model=SoftHSM%20v2" +
		"?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/media/usb/pin&module-name=softhsm2&pin-value=1234")
	if err != nil {
		t.Fatal(err)
	}
	want := hsm.URI{Token: "Cere mony", Object: "root-2025", ID: []byte{1, 2, 0xff}, Type: "private", SlotID: "3",
		Serial: "ABC123", Manufacturer: "SoftHSM project", Model: "SoftHSM v2",
		ModulePath: "/usr/lib/softhsm/libsofthsm2.so", PINSource: "file:/media/usb/pin", ModuleName: "softhsm2", PINValue: "1234"}
	if !u.Equal(&want) {
		t.Fatalf("got %+v\nwant %+v", u, want)
	}
	s := u.String()
	if !strings.Contains(s, "id=%01%02%FF") || !strings.Contains(s, "module-path=/usr/lib/softhsm/libsofthsm2.so") {
		t.Errorf("String() = %s", s)
	}
	u2, err := hsm.ParseURI(s)
	if err != nil || !u2.Equal(u) {
		t.Fatalf("round trip %s: %+v %v", s, u2, err)
	}
	if u, err := hsm.ParseURI("pkcs11:"); err != nil || !u.Equal(&hsm.URI{}) {
		t.Errorf("empty uri: %+v %v", u, err)
	}
}

func TestParseURIErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"pkcs12:token=a", `does not start with "pkcs11:"`},
		{"pkcs11:token=a;id=%0", `attribute "id" at offset 18: bad percent-encoding`},
		{"pkcs11:token=a;id=%zz", `attribute "id" at offset 18: bad percent-encoding`},
		{"pkcs11:object=ab%4", `attribute "object" at offset 16: bad percent-encoding`},
		{"pkcs11:token=a;token=b", `attribute "token" at offset 15: repeated`},
		{"pkcs11:color=red", `unknown path attribute "color" at offset 7`},
		{"pkcs11:token", `path attribute "token" at offset 7: missing "="`},
		{"pkcs11:type=key", `attribute "type" at offset 12`},
		{"pkcs11:slot-id=x1", `attribute "slot-id" at offset 15: not a decimal`},
		{"pkcs11:token=a?pin-file=x", `unknown query attribute "pin-file" at offset 15`},
		{"pkcs11:token=a?pin-source=%g1", `attribute "pin-source" at offset 26: bad percent-encoding`},
	} {
		_, err := hsm.ParseURI(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseURI(%q) = %v, want error containing %q", c.in, err, c.want)
		}
	}
	// A pin-value never appears in an error.
	_, err := hsm.ParseURI("pkcs11:token=a?pin-value=s3cret&pin-value=s3cret")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("repeated pin-value: %v", err)
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"pkcs11:", "pkcs11:token=a;id=%01", "pkcs11:object=x?module-path=/a/b&pin-source=file:/p",
		"pkcs11:token=%e2%82%ac;type=cert;slot-id=0", "PKCS11:model=m;manufacturer=%3b%3f%26",
		"pkcs11:id=%", "pkcs11:token=a?pin-value=1234", "pkcs11:serial=;object=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := hsm.ParseURI(s)
		if err != nil {
			return
		}
		out := u.String()
		u2, err := hsm.ParseURI(out)
		if err != nil {
			t.Fatalf("String() %q of parsed %q does not parse: %v", out, s, err)
		}
		if !u2.Equal(u) {
			t.Fatalf("round trip of %q via %q: %+v != %+v", s, out, u2, u)
		}
		if u2.String() != out {
			t.Fatalf("String not stable: %q vs %q", u2.String(), out)
		}
	})
}

func TestReadPINSource(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pin")
	for _, c := range []struct{ content, want string }{
		{"1234\n", "1234"}, {"1234", "1234"}, {"1234\r\n", "1234"}, {"12 34\n\n", "12 34\n"},
	} {
		os.WriteFile(p, []byte(c.content), 0o600)
		for _, src := range []string{"file:" + p, "file://" + p, p} {
			got, err := hsm.ReadPINSource(src)
			if err != nil || !bytes.Equal(got, []byte(c.want)) {
				t.Errorf("ReadPINSource(%q) with %q = %q, %v", src, c.content, got, err)
			}
		}
	}
	os.WriteFile(p, []byte("\n"), 0o600)
	if _, err := hsm.ReadPINSource("file:" + p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("empty pin file: %v", err)
	}
	missing := filepath.Join(dir, "nope")
	if _, err := hsm.ReadPINSource("file:" + missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing pin file: %v", err)
	}
	if _, err := hsm.ReadPINSource("|/bin/echo 1234"); err == nil {
		t.Errorf("command pin-source accepted")
	}
	os.WriteFile(p, bytes.Repeat([]byte("1"), 2000), 0o600)
	if _, err := hsm.ReadPINSource(p); err == nil {
		t.Errorf("huge pin file accepted")
	}
}
