package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"custos/ceremony"
	"custos/hsm"
	"custos/internal/hint"
)

func init() { subcommands = append(subcommands, newHSMCmd) }

func newHSMCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "hsm",
		Short: "inspect the PKCS#11 module and its tokens",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	c.AddCommand(newHSMInfoCmd(), newHSMInitTokenCmd())
	return c
}

// hsmInfo is the --json output of `custos hsm info`.
type hsmInfo struct {
	Module hsm.ModuleInfo `json:"module"`
	Slots  []slotInfo     `json:"slots"`
	// Damaged are token stores the module can no longer read (SoftHSM's
	// emptied token.object): those tokens are missing from Slots.
	Damaged []string `json:"damaged_stores,omitempty"`
}

type slotInfo struct {
	hsm.Slot
	Mechanisms []hsm.MechanismSupport `json:"mechanisms"`
	// Capabilities: per ceremony kind and key type, whether this token
	// can run it and through what (hsm.CapabilitiesOf).
	Capabilities []hsm.Capability      `json:"capabilities,omitempty"`
	Attributes   *hsm.AttributeSupport `json:"attributes,omitempty"`
}

func newHSMInfoCmd() *cobra.Command {
	var module string
	var asJSON bool
	c := &cobra.Command{
		Use:   "info",
		Short: "list slots, tokens and the mechanisms Custos needs (no PIN needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := openModuleFlag(module)
			if err != nil {
				return err
			}
			defer m.Close()
			info, err := m.Info()
			if err != nil {
				return err
			}
			slots, err := m.Slots()
			if err != nil {
				return err
			}
			out := hsmInfo{Module: info, Slots: []slotInfo{}}
			for _, s := range slots {
				ms, err := m.SupportOf(s.ID)
				if err != nil {
					return err
				}
				si := slotInfo{Slot: s, Mechanisms: ms}
				if s.Token != nil && s.Token.Initialized {
					cs, attrs, err := m.CapabilitiesOf(s.ID)
					if err != nil {
						return err
					}
					si.Capabilities, si.Attributes = cs, &attrs
				}
				out.Slots = append(out.Slots, si)
			}
			for _, d := range m.DamagedStores() {
				out.Damaged = append(out.Damaged, d.String())
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			printHSMInfo(w, out)
			return nil
		},
	}
	c.Flags().StringVar(&module, "module", "", "path of the PKCS#11 module (default $CUSTOS_PKCS11_MODULE)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// openModuleFlag opens the module named by --module, else by
// $CUSTOS_PKCS11_MODULE (as a PKCS#11 URI without module-path does).
func openModuleFlag(module string) (*hsm.Module, error) {
	if module == "" {
		module = os.Getenv(ceremony.ModuleFromEnv)
	}
	return hsm.OpenModule(module)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func printHSMInfo(w io.Writer, in hsmInfo) {
	fmt.Fprintf(w, "module: %s\n  %s, %s (library %s, cryptoki %s)\n", in.Module.Path, in.Module.Description,
		in.Module.Manufacturer, in.Module.LibraryVersion, in.Module.CryptokiVersion)
	for _, d := range in.Damaged {
		fmt.Fprintf(w, "warning: %s: %s; that token is missing below\n", hsm.ErrStoreDamaged, d)
	}
	if len(in.Slots) == 0 {
		fmt.Fprintln(w, "no slots with a token")
	}
	for _, s := range in.Slots {
		t := s.Token
		fmt.Fprintf(w, "\nslot %d (ids can change; Custos selects by label or serial)\n", s.ID)
		if !t.Initialized {
			fmt.Fprintf(w, "  token: not initialised (serial %s)\n", t.Serial)
			continue
		}
		fmt.Fprintf(w, "  token:        %s\n  serial:       %s\n  model:        %s\n  manufacturer: %s\n  firmware:     %s  hardware: %s\n",
			t.Label, t.Serial, t.Model, t.Manufacturer, t.Firmware, t.Hardware)
		var flags []string
		for _, f := range []struct {
			on   bool
			name string
		}{
			{t.Initialized, "initialised"}, {t.LoginRequired, "login required"},
			{t.UserPINInit, "user PIN set"}, {t.UserPINCountLow, "user PIN count low"},
			{t.UserPINFinalTry, "user PIN final try"}, {t.UserPINLocked, "user PIN LOCKED"},
			{t.SOPINLocked, "SO PIN LOCKED"}, {t.WriteProtected, "write protected"}, {t.HasRNG, "rng"},
		} {
			if f.on {
				flags = append(flags, f.name)
			}
		}
		fmt.Fprintf(w, "  flags:        %s\n  mechanisms Custos needs:\n", strings.Join(flags, ", "))
		for _, m := range s.Mechanisms {
			fmt.Fprintf(w, "    %-3s %-28s %s\n", yesNo(m.Supported), m.Name, m.Purpose)
		}
		printCapabilities(w, s)
	}
}

// printCapabilities prints, per ceremony kind and key type, whether the
// token can run it, through what, or what it lacks.
func printCapabilities(w io.Writer, s slotInfo) {
	if s.Attributes == nil {
		return
	}
	a := s.Attributes
	if !a.Probed {
		fmt.Fprintf(w, "  attributes: not probed (%s)\n", a.Error)
	} else {
		honour := "not checked (no AES key wrap)"
		if a.HonourChecked {
			honour = yesNo(a.WrapWithTrustedHonoured)
		}
		fmt.Fprintf(w, "  attributes: CKA_TRUSTED %s, CKA_WRAP_WITH_TRUSTED %s (enforced: %s), 16-byte CKA_ID %s\n",
			yesNo(a.Trusted), yesNo(a.WrapWithTrusted), honour, yesNo(a.ID16))
	}
	fmt.Fprintln(w, "  ceremonies this token can run:")
	for _, c := range s.Capabilities {
		name := c.Ceremony
		if c.KeyType != "" {
			name += " " + string(c.KeyType)
		}
		if c.OK {
			fmt.Fprintf(w, "    yes %-30s via %s\n", name, strings.Join(c.Uses, ", "))
		} else {
			fmt.Fprintf(w, "    no  %-30s %s\n", name, c.Why)
		}
	}
}

// newHSMInitTokenCmd initialises a fresh token (the first free slot) with a
// label and PINs read from pin-source files: for SoftHSM workstations and
// the demo. Real HSMs are initialised with their vendor's tools; custos
// only ever reads their PINs from files or the terminal, never argv.
func newHSMInitTokenCmd() *cobra.Command {
	var module, label, soSource, userSource string
	c := &cobra.Command{
		Use:   "init-token --module PATH --label LABEL --so-pin-source file:PATH --pin-source file:PATH",
		Short: "initialise a free token slot (SoftHSM) with PINs read from files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if label == "" || soSource == "" || userSource == "" {
				return hint.With(errors.New("hsm init-token: --label, --so-pin-source and --pin-source are required"),
					"PINs are read from files (mode 0600), never given on the command line")
			}
			so, err := hsm.ReadPINSource(soSource)
			if err != nil {
				return err
			}
			defer clear(so)
			user, err := hsm.ReadPINSource(userSource)
			if err != nil {
				return err
			}
			defer clear(user)
			m, err := openModuleFlag(module)
			if err != nil {
				return err
			}
			defer m.Close()
			ti, err := m.InitToken(label, so, user)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %q initialised (serial %s)\n", ti.Label, ti.Serial)
			return nil
		},
	}
	c.Flags().StringVar(&module, "module", "", "path of the PKCS#11 module (default $CUSTOS_PKCS11_MODULE)")
	c.Flags().StringVar(&label, "label", "", "token label")
	c.Flags().StringVar(&soSource, "so-pin-source", "", "file:PATH holding the new security officer PIN")
	c.Flags().StringVar(&userSource, "pin-source", "", "file:PATH holding the new user PIN")
	return c
}
