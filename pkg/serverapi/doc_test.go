package serverapi_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"
)

// docs/go-sdk.md names every exported identifier, method and struct
// field of pkg/client and pkg/serverapi.
func TestGoSDKDocsCoverAPI(t *testing.T) {
	doc, err := os.ReadFile("../../docs/go-sdk.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, w := range regexp.MustCompile(`[A-Za-z_]\w*`).FindAllString(string(doc), -1) {
		documented[w] = true
	}
	for _, dir := range []string{"../client", "."} {
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, pkg := range pkgs {
			for _, name := range exported(pkg) {
				if !documented[name] {
					t.Errorf("docs/go-sdk.md does not name %s.%s", pkg.Name, name)
				}
			}
		}
	}
}

// exported lists the exported names of pkg: declarations, methods of
// exported types and fields of exported structs.
func exported(pkg *ast.Package) []string {
	var out []string
	for _, f := range pkg.Files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && (d.Recv == nil || receiverExported(d.Recv)) {
					out = append(out, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						out = append(out, s.Name.Name)
						if st, ok := s.Type.(*ast.StructType); ok {
							for _, fl := range st.Fields.List {
								for _, n := range fl.Names {
									if n.IsExported() {
										out = append(out, n.Name)
									}
								}
							}
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								out = append(out, n.Name)
							}
						}
					}
				}
			}
		}
	}
	return out
}

func receiverExported(r *ast.FieldList) bool {
	t := r.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	id, ok := t.(*ast.Ident)
	return ok && id.IsExported()
}
