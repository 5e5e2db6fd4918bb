package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every --flag that a hint or error in ceremony/ and cmd/custos names
// exists: on the command the text names ("custos resume … --hsm"), or, when
// it names none, on some command. A hint that sends a custodian to a flag
// custos does not have is a dead end at the worst moment.
func TestHintFlagsExist(t *testing.T) {
	root := newRoot()
	all := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { all[f.Name] = true })
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	flagRE := regexp.MustCompile(`--([a-z][a-z0-9-]*)`)
	cmdRE := regexp.MustCompile(`custos ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)`)
	files, _ := filepath.Glob("../../ceremony/*.go")
	more, _ := filepath.Glob("*.go")
	files = append(files, more...)
	checked := 0
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !isCall(call, "hint", "With") && !isCall(call, "fmt", "Errorf") {
				return true
			}
			for _, arg := range call.Args {
				text := literalText(arg)
				if !strings.Contains(text, "--") {
					continue
				}
				cmds := cmdRE.FindAllStringSubmatchIndex(text, -1)
				for _, m := range flagRE.FindAllStringSubmatchIndex(text, -1) {
					checked++
					where := fset.Position(arg.Pos())
					// the flag belongs to the last command named before it
					var cmd *cobra.Command
					for _, c := range cmds {
						if c[0] < m[0] {
							cmd = commandNamed(root, text[c[2]:c[3]])
						}
					}
					name := text[m[2]:m[3]]
					if cmd != nil {
						if cmd.Flags().Lookup(name) == nil {
							t.Errorf("%s: %q names --%s, which custos %s does not have", where, text, name, cmd.Name())
						}
					} else if !all[name] {
						t.Errorf("%s: %q names --%s, which no custos command has", where, text, name)
					}
				}
			}
			return true
		})
	}
	if checked < 10 {
		t.Fatalf("only %d flags found in hints: the test no longer finds them", checked)
	}
}

func isCall(c *ast.CallExpr, pkg, fn string) bool {
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != fn {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg
}

// literalText is the text of a string expression: its literals joined,
// with X for what is computed ("run custos resume --ledger X --key …").
func literalText(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			s, _ := strconv.Unquote(e.Value)
			return s
		}
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			return literalText(e.X) + literalText(e.Y)
		}
	case *ast.CallExpr:
		var parts []string
		for _, a := range e.Args {
			parts = append(parts, literalText(a))
		}
		return strings.Join(parts, " ")
	case *ast.ParenExpr:
		return literalText(e.X)
	}
	return "X"
}

// commandNamed resolves "resume" or "hsm init-token" to its command.
func commandNamed(root *cobra.Command, named string) *cobra.Command {
	words := strings.Fields(named)
	c, rest, err := root.Find(words)
	if err != nil || c == root || len(rest) == len(words) {
		return nil
	}
	return c
}
