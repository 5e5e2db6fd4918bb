// Drawing a frame: the title, the body wrapped and scrolled to the
// terminal, the status and the keys; and the help and secret prompt that
// can stand over any screen.

package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// scrollKeys moves a scrolling body.
func (m *Model) scrollKeys(msg tea.KeyPressMsg) bool {
	switch {
	case key.Matches(msg, Keys.Up):
		m.scroll = max(0, m.scroll-1)
	case key.Matches(msg, Keys.Down):
		m.scroll++
	case key.Matches(msg, Keys.PageUp):
		m.scroll = max(0, m.scroll-m.bodyHeight()+1)
	case key.Matches(msg, Keys.PageDown):
		// the last line of a page is the "↓ more" line: it comes first
		// on the next page
		m.scroll += m.bodyHeight() - 1
	default:
		return false
	}
	return true
}

func (m *Model) bodyHeight() int {
	return max(3, m.height-2-len(m.footerLines())-len(m.statusLines()))
}

// footerLines are the keys of this screen, on two lines when one is too
// narrow for them: a key is never cut off.
func (m *Model) footerLines() []string {
	f := m.footer + " · ?: help"
	w := max(20, m.width)
	if ansi.StringWidth(f) <= w {
		return []string{f}
	}
	return strings.Split(ansi.Wrap(f, w, " "), "\n")
}

func (m *Model) statusText() string {
	if m.busy != "" {
		if !m.stopAt.IsZero() && strings.Contains(m.status, Stopping) {
			return "… " + m.busy + "\n" + m.status // a stop was asked for
		}
		return "… " + m.busy
	}
	return m.status
}

// statusLines is the status wrapped to the terminal's width (hex in
// blocks), at most six lines, so a long error is read in full and the
// body still fits; a longer one ends saying so.
func (m *Model) statusLines() []string {
	s := m.statusText()
	if s == "" {
		return []string{""}
	}
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		lines = append(lines, strings.Split(ansi.Wrap(groupHexIn(l), max(20, m.width), " /"), "\n")...)
	}
	if len(lines) > 6 {
		lines = append(lines[:5], "(longer than the screen: the same step with custos on the command line prints it whole)")
	}
	return lines
}

// View draws the current screen in the terminal's size: a title line, the
// body (scrolled or cut to fit), the status and the keys of this screen.
func (m *Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "custos"
	return v
}

func (m *Model) render() string {
	title := " custos · " + screenTitles[m.screen]
	if m.screen == scrStep && m.run != nil {
		title = fmt.Sprintf(" custos · step %d of %d", m.run.step+1, len(m.run.plan.Steps))
	}
	if m.screen == scrRunning && m.run != nil {
		title = fmt.Sprintf(" custos · running step %d of %d", min(m.stepsDone()+1, len(m.run.plan.Steps)), len(m.run.plan.Steps))
	}
	if m.dir != "" {
		title += " · " + m.dir
	}
	body, footer := m.frame()
	if footer != m.footer {
		// the body's height depends on the footer's: draw again with it
		m.footer = footer
		body, _ = m.frame()
	}
	w := max(20, m.width)
	h := m.bodyHeight()
	top := m.scroll
	if m.screen == scrLedger && m.prompt == nil && !m.help {
		top = 0 // the timeline keeps its own window
	}
	if top > max(0, len(body)-h) {
		top = max(0, len(body)-h)
		m.scroll = top
	}
	if len(body) > h {
		more := len(body) - top - h
		body = body[top:min(len(body), top+h)]
		if more > 0 {
			body[len(body)-1] = m.st.Dim.Render(fmt.Sprintf("  ↓ %d more lines (↓/pgdn)", more))
		}
	}
	lines := []string{m.st.Title.Render(title), ""}
	lines = append(lines, body...)
	for len(lines) < h+2 {
		lines = append(lines, "")
	}
	st := m.st.OK
	if m.bad {
		st = m.st.Bad
	}
	for _, l := range m.statusLines() {
		lines = append(lines, st.Render(l))
	}
	for _, l := range m.footerLines() {
		lines = append(lines, m.st.Footer.Render(l))
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, w, "…")
	}
	return strings.Join(lines, "\n")
}

// frame is the body and the footer of what is on the screen now: the
// secret prompt, help, a question, or the current screen, with the text
// field under it.
func (m *Model) frame() ([]string, string) {
	var body []string
	footer := ""
	switch {
	case m.prompt != nil:
		body, footer = m.promptBody(), "enter: give it to the engine · esc: cancel"
	case m.help:
		body, footer = m.helpBody(), "any key: back"
	case m.ask2 != nil:
		body, footer = m.confirmBody(), "y: yes · n/esc: no"
	default:
		body, footer = m.screenBody()
	}
	// Nothing on the body is ever cut: a digest, id or word list too wide
	// for the terminal continues on the next line, indented. The text
	// field is left as typed; so are the form (huh lays it out to the
	// width) and the script it wrote (shown byte for byte, wrapped by the
	// form: grouping its hex would change what is read).
	if own := m.screen == scrForm || m.screen == scrFormReview; !own || m.prompt != nil || m.help || m.ask2 != nil {
		body = wrapAll(body, max(20, m.width))
	}
	if m.inputFor != "" && m.prompt == nil && !m.help {
		body = append(body, "", m.input.View())
		footer = "enter: ok · esc: cancel"
		if strings.HasPrefix(m.inputFor, "filter:") {
			footer = "type to filter · enter: keep it · esc: clear"
		}
	}
	return body, footer
}

func (m *Model) screenBody() ([]string, string) {
	switch m.screen {
	case scrPick:
		return m.pickBody()
	case scrHome:
		return m.homeBody()
	case scrLedger:
		return m.lv.view(m)
	case scrRecord:
		return m.rv.view(m)
	case scrKeys:
		return m.kv.view(m)
	case scrKey:
		return m.kd.view(m)
	case scrForm, scrFormReview:
		return m.formBody()
	default:
		return m.runBody()
	}
}

func (m *Model) promptBody() []string {
	return []string{
		m.st.Heading.Render(m.prompt.heading()),
		"",
		"  " + m.prompt.what,
		"",
		"  Type it and press enter. It is never shown, never stored and",
		"  is wiped from memory as soon as it has been used.",
		"",
		"  " + m.st.Key.Render("secret: ") + m.prompt.dots() + "▏",
	}
}

func (m *Model) helpBody() []string {
	out := []string{m.st.Heading.Render("Keys"), ""}
	// Two columns, so the whole keymap fits 80×24.
	all := Keys.All()
	half := (len(all) + 1) / 2
	col := max(20, (m.width-2)/2)
	cell := func(b key.Binding) string {
		h := b.Help()
		return fmt.Sprintf("%-6s %s", h.Key, h.Desc)
	}
	for i := range half {
		l := "  " + cell(all[i])
		if i+half < len(all) {
			l += strings.Repeat(" ", max(1, col-ansi.StringWidth(l))) + cell(all[i+half])
		}
		out = append(out, l)
	}
	out = append(out, "", "  In a text field, q, ? and letters are typed; ctrl+c always quits",
		"  (while the HSM works or a record is written, it first asks the step to finish).",
		"  The screen needs no mouse; it fits 80×24 and follows resizing.")
	return out
}
