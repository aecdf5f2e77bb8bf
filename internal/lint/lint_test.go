// Package lint holds tests that enforce kappa's house rules on its own source (pebble's internal/lint idea):
// the core packages use generics, not reflection; no code panics on purpose in the core; errors are wrapped
// with %w; every Go file is gofmt-formatted.
package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// core are the packages where reflection and panics are not allowed.
var core = []string{"pipeline", "transforms", "windowing", "runners/local", "internal/exec", "internal/engine"}

func sources(t *testing.T) map[string]*ast.File {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*ast.File{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && (strings.HasPrefix(name, ".") || name == "node_modules" || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("found only %d source files: wrong root?", len(files))
	}
	return files
}

func inCore(path string) bool {
	for _, c := range core {
		if filepath.ToSlash(filepath.Dir(path)) == c {
			return true
		}
	}
	return false
}

func TestCoreUsesNoReflection(t *testing.T) {
	for path, f := range sources(t) {
		if !inCore(path) {
			continue
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "reflect" {
				t.Errorf("%s imports reflect: the core uses generics", path)
			}
		}
	}
}

// panicAllowed lists the files that may panic, with the reason.
var panicAllowed = map[string]string{
	"runners/local/spill.go": "Pebble's Logger.Fatalf must not return (Pebble's own default exits the process)",
}

func TestCoreDoesNotPanic(t *testing.T) {
	for path, f := range sources(t) {
		if !inCore(path) || panicAllowed[path] != "" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok {
				if id, ok := c.Fun.(*ast.Ident); ok && id.Name == "panic" {
					t.Errorf("%s calls panic: return an error (construction errors go to Scope.AddError)", path)
				}
			}
			return true
		})
	}
}

// fmt.Errorf calls that format a variable named err must wrap it with %w, so that errors.Is/As see the cause.
func TestErrorsAreWrapped(t *testing.T) {
	for path, f := range sources(t) {
		ast.Inspect(f, func(n ast.Node) bool {
			c, ok := n.(*ast.CallExpr)
			if !ok || len(c.Args) < 2 {
				return true
			}
			sel, ok := c.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Errorf" {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "fmt" {
				return true
			}
			lit, ok := c.Args[0].(*ast.BasicLit)
			if !ok {
				return true
			}
			for _, a := range c.Args[1:] {
				if id, ok := a.(*ast.Ident); ok && (id.Name == "err" || strings.HasSuffix(id.Name, "Err")) && !strings.Contains(lit.Value, "%w") {
					t.Errorf("%s: fmt.Errorf(%s, …%s…) does not wrap it with %%w", path, lit.Value, id.Name)
				}
			}
			return true
		})
	}
}
