package report

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"

	"custos/internal/termtext"
)

// Formats are the output formats of a report.
var Formats = []string{"html", "md", "json"}

// Render writes r in format ("html", "md" or "json") to w.
func Render(w io.Writer, r *Report, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(r)
	case "md":
		_, err := io.WriteString(w, Markdown(r))
		return err
	case "html":
		return htmlTmpl.Execute(w, r)
	}
	return fmt.Errorf("report: format %q is not one of html, md, json", format)
}

// --- Markdown ---

// mdCell makes s safe inside a Markdown table cell, and on a terminal
// that shows the file (control characters escaped, termtext).
func mdCell(s string) string {
	if s == "" {
		return "–"
	}
	s = strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;", "`", "'").Replace(s)
	return termtext.Printable(s)
}

func mdList(s []string) string { return mdCell(strings.Join(s, ", ")) }

func mdTable(b *strings.Builder, head []string, rows [][]string) {
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|")
	for range head {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = mdCell(c)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	b.WriteString("\n")
}

func yesno(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func by(e *Event) string {
	if e == nil {
		return ""
	}
	s := e.Time + " by " + e.By
	if len(e.ApprovedBy) > 0 {
		s += ", approved by " + approvalList(e.ApprovedBy, e.Carried)
	}
	return s
}

// FailureBanner is the line that heads every form of the report of a
// ledger that does not verify; "" when it verified or was not verified.
func FailureBanner(r *Report) string {
	if r.Failure == "" {
		return ""
	}
	return "THIS LEDGER DOES NOT VERIFY: " + r.Failure + " — nothing in this report can be relied on at or after that record"
}

// Markdown renders r as one Markdown document.
func Markdown(r *Report) string {
	var b strings.Builder
	if r.Failure != "" {
		fmt.Fprintf(&b, "**%s**\n\n", mdCell(FailureBanner(r)))
	}
	fmt.Fprintf(&b, "# Key management evidence: ledger %s\n\n", mdCell(r.Ledger))
	fmt.Fprintf(&b, "Generated %s from %d records (head %s). Period: %s. Overdue rotations judged at %s.\n\n",
		r.Generated, r.Records, r.Head, periodText(r.Period), r.AsOf)

	b.WriteString("## 1. Verify result\n\n")
	v := r.Verify
	switch {
	case !v.Ran:
		b.WriteString("**NOT VERIFIED.**\n\n")
	case v.OK:
		fmt.Fprintf(&b, "**PASS**: %d records verified.\n\n", v.Records)
	default:
		fmt.Fprintf(&b, "**FAIL**: %s\n\n", mdCell(v.Failure))
	}
	mdTable(&b, []string{"item", "value"}, [][]string{
		{"genesis digest", v.Genesis}, {"genesis words", v.GenesisWords},
		{"head digest", v.Head}, {"head commit", v.HeadCommit}, {"head words", v.HeadWords},
		{"origin checked (--genesis)", yesno(v.OriginChecked)}, {"trusted head checked", yesno(v.TrustedHeadChecked)},
		{"open intent", v.OpenIntent},
	})
	b.WriteString("Checked:\n\n")
	for _, c := range v.Checked {
		fmt.Fprintf(&b, "- %s\n", c)
	}
	b.WriteString("\n**Not checked:**\n\n")
	for _, c := range v.NotChecked {
		fmt.Fprintf(&b, "- %s\n", c)
	}

	b.WriteString("\n## Exceptions to follow up\n\n")
	if len(r.Exceptions) == 0 {
		b.WriteString("None seen in the records.\n")
	}
	for _, g := range groupExceptions(r.Exceptions) {
		fmt.Fprintf(&b, "- %s [%s]\n", mdCell(g.Text), g.Kind)
	}
	b.WriteString("\n## Keys in brief\n\n")
	for _, k := range r.Inventory {
		var parts []string
		for _, s := range k.Summary {
			t := s.Text
			if len(s.Seqs) > 0 {
				t += " (" + recs(s.Seqs) + ")"
			}
			parts = append(parts, t)
		}
		fmt.Fprintf(&b, "**%s** (%s): %s\n\n", mdCell(k.Label), k.ID, mdCell(strings.Join(parts, " ")))
	}
	b.WriteString("## Reviewer sign-off\n\nName: ____________________  Role: ____________________\n\nDate: ____________________  Signature: ____________________\n")
	b.WriteString("\n## 2. Key inventory\n\n")
	var rows [][]string
	for _, k := range r.Inventory {
		state := k.Disposition
		if k.Destroyed != nil {
			state += " " + by(k.Destroyed)
		}
		if k.Compromised != nil {
			state += "; COMPROMISED " + by(k.Compromised) + ": " + k.Compromised.Reason
		}
		if rt := k.Retirement; rt != nil {
			state += "; rotated to " + rt.Successor + ", retire on " + rt.RetireOn
		}
		if k.RetireOverdue {
			state += " RETIREMENT OVERDUE"
		}
		rows = append(rows, []string{k.ID, k.Label, fmt.Sprintf("%s (%d bits)", k.Type, k.Bits),
			k.HSM.Model + " " + k.HSM.Serial, k.Owner, k.Purpose, by(k.Created), k.CheckValue,
			fmt.Sprint(len(k.Exports)), rotationText(k), state})
	}
	mdTable(&b, []string{"id", "label", "type", "HSM (model serial)", "owner", "purpose", "created", "check value", "exports", "rotation", "state"}, rows)
	for _, k := range r.Inventory {
		for _, x := range k.Exports {
			fmt.Fprintf(&b, "- export of %s to %s (record %d): %s; mechanism %s; output sha256 %s\n",
				mdCell(k.Label), mdCell(x.Recipient), x.Seq, by(&x.Event), mdCell(x.Mechanism), mdCell(x.OutputSHA256))
		}
		for _, sg := range k.Signatures {
			fmt.Fprintf(&b, "- signature with %s (record %d): %s for %s, %s; mechanism %s; TBS sha256 %s",
				mdCell(k.Label), sg.Seq, mdCell(sg.SignKind), mdCell(sg.Purpose), by(&sg.Event), mdCell(sg.Mechanism), mdCell(sg.TBSSHA256))
			if sg.Serial != "" {
				fmt.Fprintf(&b, "; serial %s", mdCell(sg.Serial))
			}
			for _, o := range sg.Outputs {
				fmt.Fprintf(&b, "; %s %s sha256 %s", mdCell(o.Format), mdCell(o.File), mdCell(o.SHA256))
			}
			b.WriteString("\n")
		}
		for _, bk := range k.Backups {
			fmt.Fprintf(&b, "- backup of %s (record %d): %d of %d, holders %s", mdCell(k.Label), bk.Seq, bk.Threshold, bk.Shares, mdList(bk.Holders))
			for _, rs := range bk.Reshares {
				fmt.Fprintf(&b, "; reshared (record %d) %s", rs.Seq, by(&rs))
			}
			if len(bk.ReshareDue) > 0 {
				fmt.Fprintf(&b, "; **re-share due**: %s left the roster", mdList(bk.ReshareDue))
			}
			b.WriteString("\n")
		}
	}

	b.WriteString("\n### HSMs\n\n")
	rows = nil
	for _, h := range r.HSMs {
		rows = append(rows, []string{h.Manufacturer, h.Model, h.Serial, h.Label, h.Firmware, by(&h.Enrolled)})
	}
	mdTable(&b, []string{"manufacturer", "model", "serial", "token label", "firmware", "enrolled"}, rows)

	b.WriteString("## 3. Rotation calendar\n\n")
	rows = nil
	for _, c := range r.Calendar {
		od := ""
		if c.Overdue {
			od = "**OVERDUE**"
		}
		rows = append(rows, []string{c.Due, c.Action, c.Label, c.Type, c.Owner, c.Created, fmt.Sprintf("%dd", c.RotationDays), fmt.Sprint(c.DaysLeft), od})
	}
	mdTable(&b, []string{"due", "action", "key", "type", "owner", "created", "period", "days left", ""}, rows)

	b.WriteString("## 4. Ceremonies\n\n")
	for _, c := range r.Ceremonies {
		fmt.Fprintf(&b, "### %s (%s, %s)\n\n", mdCell(c.ID), c.Kind, c.Status)
		fmt.Fprintf(&b, "%s – %s. Operators: %s. Approvers: %s. Witnesses: %s. Keys: %s.",
			c.Start, c.End, mdList(c.Operators), mdList(c.Approvers), mdList(c.Witnesses), mdList(c.Keys))
		for _, h := range c.HSMs {
			fmt.Fprintf(&b, " HSM: %s %s serial %s (token %s).", mdCell(h.Manufacturer), mdCell(h.Model), mdCell(h.Serial), mdCell(h.Label))
		}
		if c.Checkpoint != "" {
			fmt.Fprintf(&b, " Checkpoint: %s.", c.Checkpoint)
		}
		b.WriteString("\n\n")
		rows = nil
		for _, s := range c.Steps {
			rows = append(rows, []string{fmt.Sprint(s.Seq), s.Time, s.Kind, s.Actor, approvalList(s.ApprovedBy, s.Carried), factsText(s.Facts), s.Digest})
		}
		mdTable(&b, []string{"seq", "time", "kind", "actor", "approved by", "facts", "digest"}, rows)
	}

	b.WriteString("## 5. Roster history\n\n")
	for _, v := range r.Roster {
		fmt.Fprintf(&b, "### Record %d, ceremony %s, %s\n\n", v.Seq, mdCell(v.Ceremony), by(&v.Event))
		fmt.Fprintf(&b, "Added: %s. Removed: %s. Changed: %s. Policy changed: %s.\n\n", mdList(v.Added), mdList(v.Removed), mdList(v.Changed), yesno(v.PolicyChanged))
		rows = nil
		for _, m := range v.Members {
			rows = append(rows, []string{m.Name, m.Email, strings.Join(m.Roles, ", "), m.Fingerprint})
		}
		mdTable(&b, []string{"member", "e-mail", "roles", "key fingerprint"}, rows)
	}

	b.WriteString("## 6. Access reviews\n\n")
	if len(r.Reviews) == 0 {
		b.WriteString("No access review was signed in this period.\n\n")
	}
	for _, rv := range r.Reviews {
		fmt.Fprintf(&b, "- record %d, ceremony %s: %s; %s\n", rv.Seq, mdCell(rv.Ceremony), by(&rv.Event), mdCell(factsText(rv.Facts)))
	}

	b.WriteString("\n## 7. Policy as enforced\n\n")
	p := r.Policy
	fmt.Fprintf(&b, "In force since record %d; changed by records %s. Approved algorithms: %s.", p.SinceSeq, mdCell(joinInts(p.Changes)), mdList(p.Algorithms))
	if len(p.Environments) > 0 {
		fmt.Fprintf(&b, " Key environments: %s.", mdList(p.Environments))
	}
	if len(p.Classifications) > 0 {
		fmt.Fprintf(&b, " Key classifications: %s.", mdList(p.Classifications))
	}
	b.WriteString("\n\n")
	rows = nil
	for _, h := range p.Roles {
		rows = append(rows, []string{h.Role, strings.Join(h.Members, ", ")})
	}
	mdTable(&b, []string{"role", "members"}, rows)
	rows = nil
	for _, q := range p.Quorum {
		rows = append(rows, []string{q.Kind, q.Rule, fmt.Sprint(q.Count), strings.Join(q.Roles, ", "), yesno(q.SelfApproval), fmt.Sprint(q.Observed), minText(q)})
	}
	mdTable(&b, []string{"record kind", "policy rule", "approvals", "roles", "self-approval", "seen in period", "fewest approvals seen"}, rows)
	rows = nil
	for _, rr := range p.Rotation {
		rows = append(rows, []string{rr.Type, rr.Period})
	}
	if len(rows) > 0 {
		mdTable(&b, []string{"key type", "rotation period"}, rows)
	}

	b.WriteString("## 8. Controls\n\n")
	rows = nil
	for _, c := range r.Controls {
		rows = append(rows, []string{c.Framework + " " + c.Control, c.Title, strings.Join(c.Sections, ", "), c.Evidence})
	}
	mdTable(&b, []string{"control", "about", "sections", "evidence"}, rows)
	return b.String()
}

func periodText(p Period) string {
	if p.Since == "" && p.Until == "" {
		return fmt.Sprintf("the whole ledger (%d records)", p.Records)
	}
	s, u := p.Since, p.Until
	if s == "" {
		s = "the genesis"
	}
	if u == "" {
		u = "the head"
	}
	return fmt.Sprintf("%s to %s (%d records)", s, u, p.Records)
}

func rotationText(k Key) string {
	if k.RotationDays == 0 {
		return ""
	}
	s := fmt.Sprintf("every %dd (%s)", k.RotationDays, k.RotationSource)
	if k.RotationDue != "" {
		s += ", due " + k.RotationDue
	}
	if k.Overdue {
		s += " OVERDUE"
	}
	return s
}

func factsText(fs []Fact) string {
	parts := make([]string, 0, len(fs))
	for _, f := range fs {
		if f.Value == "" {
			continue // heads nested rows, which carry the whole name
		}
		p := f.Name + "=" + f.Value
		if f.Note != "" {
			p += " (" + f.Note + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

func joinInts(a []int64) string {
	s := make([]string, len(a))
	for i, n := range a {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

func minText(q Quorum) string {
	if q.Observed == 0 {
		return ""
	}
	return fmt.Sprint(q.MinApprovals)
}

// --- HTML ---

//go:embed report.html.tmpl
var htmlSource string

var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"banner":    FailureBanner,
	"join":      func(s []string) string { return strings.Join(s, ", ") },
	"approvals": approvalList,
	"minus":     func(a, b int) int { return a - b },
	"by":        by,
	"period":    periodText,
	"rotation":  rotationText,
	"ints":      joinInts,
	"min":       minText,
	"yesno":     yesno,
	"short":     func(s string) string { return shortDigest(s) },
	"date":      func(t string) string { d, _, _ := strings.Cut(t, "T"); return d },
	"clock": func(t string) string {
		_, c, _ := strings.Cut(t, "T")
		return c
	},
	"recs":     recs,
	"lines":    factLines,
	"exgroups": groupExceptions,
	"links": func(seqs []int64) template.HTML {
		// Only numbers go into the markup.
		parts := make([]string, len(seqs))
		for i, n := range seqs {
			parts[i] = fmt.Sprintf(`<a href="#r%d">%d</a>`, n, n)
		}
		word := "record "
		if len(seqs) > 1 {
			word = "records "
		}
		return template.HTML(word + strings.Join(parts, ", "))
	},
	"count": func(r *Report, state string) int {
		n := 0
		for _, k := range r.Inventory {
			if k.Disposition == state {
				n++
			}
		}
		return n
	},
	"outstanding": func(r *Report) int {
		n := 0
		for _, k := range r.Inventory {
			if k.State == "destroyed" && k.Disposition != k.State {
				n++
			}
		}
		return n
	},
	"overdue": func(r *Report) int {
		n := 0
		for _, c := range r.Calendar {
			if c.Overdue {
				n++
			}
		}
		return n
	},
}).Parse(htmlSource))

func shortDigest(s string) string {
	if len(s) > 7+12 && strings.HasPrefix(s, "sha256:") {
		return s[:7+12] + "…"
	}
	return s
}

// recs names records: "record 12", "records 12, 14".
func recs(seqs []int64) string {
	if len(seqs) == 1 {
		return fmt.Sprintf("record %d", seqs[0])
	}
	return "records " + joinInts(seqs)
}

// factLine is one line of a record's facts in the HTML report: a fact,
// or an object whose members are all plain values, on one line as
// "name — a: 1 · b: 2".
type factLine struct {
	Depth int
	Label string
	Value string
	Head  bool // heads deeper lines
	Note  string
}

func factLines(fs []Fact) []factLine {
	var out []factLine
	for i := 0; i < len(fs); i++ {
		f := fs[i]
		if f.Value != "" || i+1 == len(fs) {
			out = append(out, factLine{Depth: f.Depth, Label: f.Label, Value: f.Value, Note: f.Note})
			continue
		}
		// A head: gather its members when none of them heads rows.
		j, flat := i+1, true
		for ; j < len(fs) && fs[j].Depth > f.Depth; j++ {
			if fs[j].Depth != f.Depth+1 || fs[j].Value == "" || fs[j].Note != "" {
				flat = false
			}
		}
		if !flat || j == i+1 {
			out = append(out, factLine{Depth: f.Depth, Label: f.Label, Head: true})
			continue
		}
		parts := make([]string, 0, j-i-1)
		for _, m := range fs[i+1 : j] {
			parts = append(parts, m.Label+": "+m.Value)
		}
		out = append(out, factLine{Depth: f.Depth, Label: f.Label, Value: strings.Join(parts, " · "), Head: true})
		i = j - 1
	}
	return out
}

// exceptionGroup is one line of the HTML exceptions list: an exception,
// or every exception of a kind that has many (the JSON keeps each).
type exceptionGroup struct {
	Kind  string
	Text  string
	Count int
	Seqs  []int64
}

// groupedAt is how many exceptions of one kind are listed one by one.
const groupedAt = 6

var exceptionNouns = map[string]string{
	"aborted_ceremony": "ceremonies were aborted", "unclosed_ceremony": "ceremonies have no ceremony.closed (not co-signed by a witness checkpoint)",
	"open_ceremony": "ceremonies are still open", "restored_after_destruction": "keys were restored after their destruction",
	"backup_outlives_key": "backups outlive their destroyed key", "export_outlives_key": "exports expire after their key's end",
	"rotation_overdue": "keys are overdue for rotation", "retirement_overdue": "keys are past their retirement date",
	"no_rotation_period": "active keys have no rotation period", "label_reused": "labels name more than one key",
	"ceremony_id_reused": "ceremony ids are used again", "compromised": "keys were reported compromised",
	"reshare_due": "backups must be reshared",
}

func groupExceptions(xs []Exception) []exceptionGroup {
	n := map[string]int{}
	for _, x := range xs {
		n[x.Kind]++
	}
	var out []exceptionGroup
	at := map[string]int{}
	for _, x := range xs {
		if n[x.Kind] < groupedAt {
			out = append(out, exceptionGroup{Kind: x.Kind, Text: x.Text, Count: 1, Seqs: x.Seqs})
			continue
		}
		i, ok := at[x.Kind]
		if !ok {
			i = len(out)
			at[x.Kind] = i
			out = append(out, exceptionGroup{Kind: x.Kind, Text: fmt.Sprintf("%d %s:", n[x.Kind], exceptionNouns[x.Kind])})
		}
		g := &out[i]
		name := x.Ceremony
		if name == "" {
			name = x.KeyID
		}
		sep := " "
		if g.Count > 0 {
			sep = ", "
		}
		g.Text += sep + name
		g.Count++
		g.Seqs = append(g.Seqs, x.Seqs...)
	}
	return out
}
