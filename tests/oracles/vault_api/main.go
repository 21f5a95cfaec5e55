// Command vault_api reads the HTTP API of HashiCorp Vault (and of the plugins it ships) from its Go source, without
// compiling it: Vault's server cannot be built from the module proxy (its go.mod replaces api/sdk with ./ paths that
// do not apply to a dependency), but go/parser and go/ast read the served source as written.
//
// For every framework.Path literal in the packages it is given, it prints the path pattern (string concatenations,
// package constants, fmt.Sprintf and one-line helpers such as framework.GenericNameRegex evaluated, call sites
// followed when a pattern is a parameter), the fields with their framework.Type*, the handler each operation names,
// and the response keys those handlers (and the functions they call, two levels deep) write: keys of
// map[string]interface{} literals and of `x.Data["key"] =` assignments. Fields and keys are an over-approximation
// where a handler builds several responses; a key that is absent is absent from the code.
//
//	vault_api IMPORT_PATH=DIR [IMPORT_PATH=DIR...]   # JSON on stdout
package main

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Path is one framework.Path as the source declares it.
type Path struct {
	Package      string            `json:"package"`
	File         string            `json:"file"`
	Line         int               `json:"line"`
	Func         string            `json:"func"`
	Patterns     []string          `json:"patterns"`
	Fields       map[string]string `json:"fields"`
	Operations   map[string]string `json:"operations"`
	ResponseKeys []string          `json:"response_keys"`
}

type funcInfo struct {
	decl *ast.FuncDecl
	pkg  *pkgInfo
	file *ast.File
}

type pkgInfo struct {
	importPath string
	dir        string
	fset       *token.FileSet
	files      map[string]*ast.File
	funcs      map[string][]*funcInfo // by name; methods and functions alike
	consts     map[string]ast.Expr
}

type world struct {
	pkgs map[string]*pkgInfo
}

func loadPackage(importPath, dir string) (*pkgInfo, error) {
	fset := token.NewFileSet()
	pkg := &pkgInfo{importPath: importPath, dir: dir, fset: fset, files: map[string]*ast.File{},
		funcs: map[string][]*funcInfo{}, consts: map[string]ast.Expr{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, entry := range entries {
		name := entry.Name()
		if entry.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		pkg.files[name] = file
		for _, decl := range file.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				pkg.funcs[d.Name.Name] = append(pkg.funcs[d.Name.Name], &funcInfo{d, pkg, file})
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					if vs, ok := spec.(*ast.ValueSpec); ok {
						for i, n := range vs.Names {
							if i < len(vs.Values) {
								pkg.consts[n.Name] = vs.Values[i]
							}
						}
					}
				}
			}
		}
	}
	return pkg, nil
}

// imported maps a file's import names to import paths.
func imported(file *ast.File) map[string]string {
	out := map[string]string{}
	for _, spec := range file.Imports {
		p, _ := strconv.Unquote(spec.Path.Value)
		name := p[strings.LastIndex(p, "/")+1:]
		if strings.HasPrefix(name, "v") && len(name) <= 3 { // .../sdk/v2
			trimmed := strings.TrimSuffix(p, "/"+name)
			name = trimmed[strings.LastIndex(trimmed, "/")+1:]
		}
		if spec.Name != nil {
			name = spec.Name.Name
		}
		out[name] = p
	}
	return out
}

// callee resolves a call's function to declarations in the loaded packages (methods by name in the same package).
func (w *world) callee(fi *funcInfo, fun ast.Expr) []*funcInfo {
	switch f := fun.(type) {
	case *ast.Ident:
		return fi.pkg.funcs[f.Name]
	case *ast.SelectorExpr:
		if x, ok := f.X.(*ast.Ident); ok {
			if path, ok := imported(fi.file)[x.Name]; ok {
				if pkg, ok := w.pkgs[path]; ok {
					return pkg.funcs[f.Sel.Name]
				}
				return nil
			}
		}
		if own := fi.pkg.funcs[f.Sel.Name]; len(own) > 0 {
			return own
		}
		// A method of a type from another loaded package (role.PopulateTokenData with tokenutil's TokenParams).
		var found []*funcInfo
		for _, pkg := range w.pkgs {
			for _, cand := range pkg.funcs[f.Sel.Name] {
				if cand.decl.Recv != nil {
					found = append(found, cand)
				}
			}
		}
		return found
	}
	return nil
}

type env map[string]ast.Expr

// locals are a function's `x := expr` / `x = expr` / `var x = expr` bindings (the last one wins).
func locals(fi *funcInfo) env {
	out := env{}
	if fi.decl.Body == nil {
		return out
	}
	ast.Inspect(fi.decl.Body, func(n ast.Node) bool {
		switch s := n.(type) {
		case *ast.AssignStmt:
			if len(s.Lhs) == len(s.Rhs) {
				for i, lhs := range s.Lhs {
					if id, ok := lhs.(*ast.Ident); ok {
						out[id.Name] = s.Rhs[i]
					}
				}
			}
		case *ast.ValueSpec:
			for i, n := range s.Names {
				if i < len(s.Values) {
					out[n.Name] = s.Values[i]
				}
			}
		}
		return true
	})
	return out
}

func paramNames(decl *ast.FuncDecl) []string {
	var names []string
	for _, field := range decl.Type.Params.List {
		if len(field.Names) == 0 {
			names = append(names, "_")
		}
		for _, n := range field.Names {
			names = append(names, n.Name)
		}
	}
	return names
}

type scope struct {
	fi     *funcInfo
	vars   env
	params map[string]string // parameter -> value evaluated at a call site
}

// str evaluates a string expression; what it cannot evaluate becomes {expr}.
func (w *world) str(sc scope, expr ast.Expr, depth int) string {
	if depth > 8 {
		return "{?}"
	}
	switch e := expr.(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			s, err := strconv.Unquote(e.Value)
			if err == nil {
				return s
			}
		}
		return e.Value
	case *ast.ParenExpr:
		return w.str(sc, e.X, depth+1)
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			return w.str(sc, e.X, depth+1) + w.str(sc, e.Y, depth+1)
		}
	case *ast.Ident:
		if v, ok := sc.params[e.Name]; ok {
			return v
		}
		if v, ok := sc.vars[e.Name]; ok {
			return w.str(scope{sc.fi, env{}, sc.params}, v, depth+1)
		}
		if v, ok := sc.fi.pkg.consts[e.Name]; ok {
			return w.str(scope{sc.fi, env{}, nil}, v, depth+1)
		}
		return "{" + e.Name + "}"
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			if path, ok := imported(sc.fi.file)[x.Name]; ok {
				if pkg, ok := w.pkgs[path]; ok {
					if v, ok := pkg.consts[e.Sel.Name]; ok {
						var file *ast.File
						for _, f := range pkg.files {
							file = f
							break
						}
						return w.str(scope{&funcInfo{nil, pkg, file}, env{}, nil}, v, depth+1)
					}
				}
			}
		}
		return "{" + exprString(e) + "}"
	case *ast.CallExpr:
		if sel, ok := e.Fun.(*ast.SelectorExpr); ok && exprString(sel) == "fmt.Sprintf" && len(e.Args) > 0 {
			format := w.str(sc, e.Args[0], depth+1)
			var args []string
			for _, a := range e.Args[1:] {
				args = append(args, w.str(sc, a, depth+1))
			}
			return sprintf(format, args)
		}
		// A one-line helper (`return <string expression>`), evaluated with its arguments.
		for _, target := range w.callee(sc.fi, e.Fun) {
			body := target.decl.Body
			if body == nil || len(body.List) != 1 {
				continue
			}
			ret, ok := body.List[0].(*ast.ReturnStmt)
			if !ok || len(ret.Results) != 1 {
				continue
			}
			params := map[string]string{}
			for i, name := range paramNames(target.decl) {
				if i < len(e.Args) {
					params[name] = w.str(sc, e.Args[i], depth+1)
				}
			}
			return w.str(scope{target, env{}, params}, ret.Results[0], depth+1)
		}
	}
	return "{" + exprString(expr) + "}"
}

func sprintf(format string, args []string) string {
	var b strings.Builder
	next := 0
	for i := 0; i < len(format); i++ {
		if format[i] == '%' && i+1 < len(format) {
			i++
			if format[i] == '%' {
				b.WriteByte('%')
				continue
			}
			if next < len(args) {
				b.WriteString(args[next])
			}
			next++
			continue
		}
		b.WriteByte(format[i])
	}
	return b.String()
}

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	case *ast.StarExpr:
		return "*" + exprString(x.X)
	case *ast.CallExpr:
		return exprString(x.Fun) + "(...)"
	case *ast.IndexExpr:
		if lit, ok := x.Index.(*ast.BasicLit); ok {
			return exprString(x.X) + "[" + lit.Value + "]"
		}
		return exprString(x.X) + "[...]"
	case *ast.MapType:
		return "map[" + exprString(x.Key) + "]" + exprString(x.Value)
	case *ast.InterfaceType:
		return "interface{}"
	case *ast.ArrayType:
		return "[]" + exprString(x.Elt)
	}
	return fmt.Sprintf("%T", e)
}

func isPathType(t ast.Expr) bool {
	s := exprString(t)
	return s == "framework.Path" || s == "*framework.Path" || s == "Path"
}

// fieldType is the Type of a FieldSchema literal (`&framework.FieldSchema{Type: framework.TypeString}`).
func fieldType(v ast.Expr) string {
	if u, ok := v.(*ast.UnaryExpr); ok {
		v = u.X
	}
	lit, ok := v.(*ast.CompositeLit)
	if !ok {
		return "?"
	}
	for _, elt := range lit.Elts {
		if kv, ok := elt.(*ast.KeyValueExpr); ok {
			if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Type" {
				if sel, ok := kv.Value.(*ast.SelectorExpr); ok {
					return sel.Sel.Name
				}
				return exprString(kv.Value)
			}
		}
	}
	return "?"
}

func isFieldSchema(v ast.Expr) bool {
	if u, ok := v.(*ast.UnaryExpr); ok {
		v = u.X
	}
	lit, ok := v.(*ast.CompositeLit)
	return ok && (lit.Type == nil || strings.HasSuffix(exprString(lit.Type), "FieldSchema"))
}

func isFieldMap(lit *ast.CompositeLit) bool {
	_, isMap := lit.Type.(*ast.MapType)
	return isMap && strings.HasSuffix(exprString(lit.Type), "FieldSchema")
}

func stringKey(e ast.Expr) (string, bool) {
	if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
		s, err := strconv.Unquote(lit.Value)
		return s, err == nil
	}
	return "", false
}

// fieldsOf collects the FieldSchema definitions of a function and of the functions it calls that build fields.
func (w *world) fieldsOf(fi *funcInfo, out map[string]string, seen map[*ast.FuncDecl]bool, depth int) {
	if fi.decl == nil || fi.decl.Body == nil || seen[fi.decl] || depth > 4 {
		return
	}
	seen[fi.decl] = true
	ast.Inspect(fi.decl.Body, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.CompositeLit:
			if isPathType(x.Type) {
				return false // another path's fields are not this one's
			}
			if isFieldMap(x) {
				w.collectMap(fi, x, out)
			}
		case *ast.AssignStmt:
			for i, lhs := range x.Lhs {
				if idx, ok := lhs.(*ast.IndexExpr); ok && i < len(x.Rhs) && isFieldSchema(x.Rhs[i]) {
					if k, ok := w.key(fi, idx.Index); ok {
						out[k] = fieldType(x.Rhs[i])
					}
				}
			}
		case *ast.CallExpr:
			for _, target := range w.callee(fi, x.Fun) {
				if mentionsFieldSchema(target.decl) {
					w.fieldsOf(target, out, seen, depth+1)
				}
			}
		}
		return true
	})
}

// keys: every string a key expression can take; a local variable assigned several literals gives each
// (`respDataPolicyName` is "rules" or "policy" in handlePoliciesRead).
func (w *world) keys(fi *funcInfo, e ast.Expr) []string {
	if id, ok := e.(*ast.Ident); ok && fi.decl != nil && fi.decl.Body != nil {
		var values []string
		ast.Inspect(fi.decl.Body, func(n ast.Node) bool {
			if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == len(as.Rhs) {
				for i, lhs := range as.Lhs {
					if l, ok := lhs.(*ast.Ident); ok && l.Name == id.Name {
						if v, ok := stringKey(as.Rhs[i]); ok {
							values = append(values, v)
						}
					}
				}
			}
			return true
		})
		if len(values) > 0 {
			return values
		}
	}
	if k, ok := w.key(fi, e); ok {
		return []string{k}
	}
	return nil
}

func (w *world) key(fi *funcInfo, e ast.Expr) (string, bool) {
	if k, ok := stringKey(e); ok {
		return k, true
	}
	s := w.str(scope{fi, env{}, nil}, e, 0)
	return s, !strings.Contains(s, "{")
}

func (w *world) collectMap(fi *funcInfo, lit *ast.CompositeLit, out map[string]string) {
	for _, elt := range lit.Elts {
		if kv, ok := elt.(*ast.KeyValueExpr); ok {
			k, _ := w.key(fi, kv.Key)
			out[k] = fieldType(kv.Value)
		}
	}
}

func mentionsFieldSchema(decl *ast.FuncDecl) bool {
	if decl == nil || decl.Type == nil {
		return false
	}
	found := false
	ast.Inspect(decl.Type, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "FieldSchema" {
			found = true
		}
		if id, ok := n.(*ast.Ident); ok && id.Name == "FieldSchema" {
			found = true
		}
		return !found
	})
	return found
}

// pathFields: a literal Fields map as written, else what the expression and the function's later edits of
// `<var>.Fields` (index assignments, helpers given it) define.
func (w *world) pathFields(fi *funcInfo, lit *ast.CompositeLit, owner string) map[string]string {
	out := map[string]string{}
	var fieldsExpr ast.Expr
	for _, elt := range lit.Elts {
		if kv, ok := elt.(*ast.KeyValueExpr); ok {
			if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Fields" {
				fieldsExpr = kv.Value
			}
		}
	}
	vars := locals(fi)
	var resolve func(e ast.Expr, depth int)
	resolve = func(e ast.Expr, depth int) {
		if e == nil || depth > 4 {
			return
		}
		switch x := e.(type) {
		case *ast.CompositeLit:
			w.collectMap(fi, x, out)
		case *ast.CallExpr:
			for _, target := range w.callee(fi, x.Fun) {
				w.fieldsOf(target, out, map[*ast.FuncDecl]bool{}, 0)
			}
			for _, a := range x.Args {
				resolve(a, depth+1)
			}
		case *ast.Ident:
			if v, ok := vars[x.Name]; ok {
				resolve(v, depth+1)
			}
			w.edits(fi, x.Name, out)
		}
	}
	resolve(fieldsExpr, 0)
	if owner != "" {
		w.edits(fi, owner+".Fields", out)
	}
	return out
}

// edits applies a function's changes to the fields map named `target` (`target[k] = ...`, `helper(target)`).
func (w *world) edits(fi *funcInfo, target string, out map[string]string) {
	ast.Inspect(fi.decl.Body, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.AssignStmt:
			for i, lhs := range x.Lhs {
				if exprString(lhs) == target && i < len(x.Rhs) { // ret.Fields = addCACommonFields(...)
					if call, ok := x.Rhs[i].(*ast.CallExpr); ok {
						for _, t := range w.callee(fi, call.Fun) {
							w.fieldsOf(t, out, map[*ast.FuncDecl]bool{}, 0)
						}
					}
				}
				if idx, ok := lhs.(*ast.IndexExpr); ok && exprString(idx.X) == target && i < len(x.Rhs) {
					if k, ok := w.key(fi, idx.Index); ok {
						out[k] = fieldType(x.Rhs[i])
					}
				}
			}
		case *ast.CallExpr:
			for _, a := range x.Args {
				if exprString(a) == target {
					for _, t := range w.callee(fi, x.Fun) {
						w.fieldsOf(t, out, map[*ast.FuncDecl]bool{}, 0)
					}
				}
			}
		}
		return true
	})
}

// operations: logical.XOperation -> handler, from Callbacks and Operations.
func (w *world) operations(pkg *pkgInfo, lit *ast.CompositeLit) map[string]string {
	out := map[string]string{}
	for _, elt := range lit.Elts {
		kv, ok := elt.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		k, ok := kv.Key.(*ast.Ident)
		if !ok || (k.Name != "Callbacks" && k.Name != "Operations") {
			continue
		}
		m, ok := kv.Value.(*ast.CompositeLit)
		if !ok {
			continue
		}
		for _, e := range m.Elts {
			op, ok := e.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			name := exprString(op.Key)
			name = name[strings.LastIndex(name, ".")+1:]
			value := op.Value
			if u, ok := value.(*ast.UnaryExpr); ok {
				value = u.X
			}
			if pl, ok := value.(*ast.CompositeLit); ok {
				for _, f := range pl.Elts {
					if fkv, ok := f.(*ast.KeyValueExpr); ok && exprString(fkv.Key) == "Callback" {
						out[name] = w.handlerName(pkg, fkv.Value)
					}
				}
			} else {
				out[name] = w.handlerName(pkg, value)
			}
		}
	}
	return out
}

// handlerName: the function an operation runs. A wrapper call (b.metricsWrap("issue", roleRequired, b.pathIssue))
// names the function among its arguments; a factory call (b.pathDataRead(), b.handlePolicyRead(PolicyTypeACL))
// names itself, its body holding the handler's closure.
func (w *world) handlerName(pkg *pkgInfo, e ast.Expr) string {
	name := func(x ast.Expr) string {
		s := exprString(x)
		return s[strings.LastIndex(s, ".")+1:]
	}
	switch x := e.(type) {
	case *ast.Ident, *ast.SelectorExpr:
		return name(x)
	case *ast.CallExpr:
		for _, a := range x.Args {
			switch a.(type) {
			case *ast.Ident, *ast.SelectorExpr:
				if _, ok := pkg.funcs[name(a)]; ok {
					return name(a)
				}
			case *ast.CallExpr:
				if n := w.handlerName(pkg, a); n != "" {
					if _, ok := pkg.funcs[n]; ok {
						return n
					}
				}
			}
		}
		return name(x.Fun)
	}
	return ""
}

// responseKeys: keys the handler, or what it calls (depth levels), writes into a response.
func (w *world) responseKeys(fi *funcInfo, out map[string]bool, seen map[*ast.FuncDecl]bool, depth int) {
	if fi.decl == nil || fi.decl.Body == nil || seen[fi.decl] || depth > 2 {
		return
	}
	seen[fi.decl] = true
	ast.Inspect(fi.decl.Body, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.CompositeLit:
			t := exprString(x.Type)
			if t == "map[string]interface{}" || t == "map[string]any" {
				for _, elt := range x.Elts {
					if kv, ok := elt.(*ast.KeyValueExpr); ok {
						for _, k := range w.keys(fi, kv.Key) {
							out[k] = true
						}
					}
				}
			}
		case *ast.AssignStmt:
			for _, lhs := range x.Lhs {
				if idx, ok := lhs.(*ast.IndexExpr); ok {
					target := exprString(idx.X)
					if _, plain := idx.X.(*ast.Ident); plain || strings.HasSuffix(target, "Data") {
						for _, k := range w.keys(fi, idx.Index) {
							out[k] = true
						}
					}
				}
			}
		case *ast.CallExpr:
			for _, t := range w.callee(fi, x.Fun) {
				w.responseKeys(t, out, seen, depth+1)
			}
		}
		return true
	})
}

// patterns of a Path literal in fi: evaluated in fi, and at each call site when the pattern is a parameter.
func (w *world) patterns(fi *funcInfo, expr ast.Expr) []string {
	vars := locals(fi)
	own := w.str(scope{fi, vars, nil}, expr, 0)
	params := paramNames(fi.decl)
	usesParam := false
	for _, p := range params {
		if strings.Contains(own, "{"+p+"}") {
			usesParam = true
		}
	}
	if !usesParam {
		return []string{own}
	}
	var out []string
	for _, file := range fi.pkg.files {
		ast.Inspect(file, func(n ast.Node) bool {
			fd, ok := n.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				return true
			}
			caller := &funcInfo{fd, fi.pkg, file}
			callerVars := locals(caller)
			ast.Inspect(fd.Body, func(m ast.Node) bool {
				call, ok := m.(*ast.CallExpr)
				if !ok {
					return true
				}
				for _, t := range w.callee(caller, call.Fun) {
					if t.decl != fi.decl {
						continue
					}
					bound := map[string]string{}
					for i, p := range params {
						if i < len(call.Args) {
							bound[p] = w.str(scope{caller, callerVars, nil}, call.Args[i], 0)
						}
					}
					out = append(out, w.str(scope{fi, vars, bound}, expr, 0))
				}
				return true
			})
			return false
		})
	}
	if len(out) == 0 {
		return []string{own}
	}
	sort.Strings(out)
	return out
}

func (w *world) extract(pkg *pkgInfo) []Path {
	var out []Path
	names := make([]string, 0, len(pkg.files))
	for name := range pkg.files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		file := pkg.files[name]
		for _, decl := range file.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			fi := &funcInfo{fd, pkg, file}
			owners := map[*ast.CompositeLit]string{}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == len(as.Rhs) {
					for i, rhs := range as.Rhs {
						if u, ok := rhs.(*ast.UnaryExpr); ok {
							rhs = u.X
						}
						if lit, ok := rhs.(*ast.CompositeLit); ok {
							owners[lit] = exprString(as.Lhs[i])
							if at, ok := lit.Type.(*ast.ArrayType); ok && isPathType(at.Elt) {
								for j, elt := range lit.Elts {
									if u, ok := elt.(*ast.UnaryExpr); ok {
										elt = u.X
									}
									if el, ok := elt.(*ast.CompositeLit); ok {
										owners[el] = fmt.Sprintf("%s[%d]", exprString(as.Lhs[i]), j)
									}
								}
							}
						}
					}
				}
				return true
			})
			var visit func(n ast.Node) bool
			visit = func(n ast.Node) bool {
				lit, ok := n.(*ast.CompositeLit)
				if !ok {
					return true
				}
				var paths []*ast.CompositeLit
				if isPathType(lit.Type) {
					paths = append(paths, lit)
				} else if at, ok := lit.Type.(*ast.ArrayType); ok && isPathType(at.Elt) {
					for _, elt := range lit.Elts {
						if u, ok := elt.(*ast.UnaryExpr); ok {
							elt = u.X
						}
						if el, ok := elt.(*ast.CompositeLit); ok && (el.Type == nil || isPathType(el.Type)) {
							paths = append(paths, el)
						}
					}
				}
				for _, p := range paths {
					out = append(out, w.path(fi, p, owners[p]))
				}
				return len(paths) == 0
			}
			ast.Inspect(fd.Body, visit)
		}
	}
	return out
}

func (w *world) path(fi *funcInfo, lit *ast.CompositeLit, owner string) Path {
	var patternExpr ast.Expr
	for _, elt := range lit.Elts {
		if kv, ok := elt.(*ast.KeyValueExpr); ok && exprString(kv.Key) == "Pattern" {
			patternExpr = kv.Value
		}
	}
	p := Path{Package: fi.pkg.importPath, File: filepath.Base(fi.pkg.fset.Position(lit.Pos()).Filename),
		Line: fi.pkg.fset.Position(lit.Pos()).Line, Func: fi.decl.Name.Name, Patterns: []string{},
		Operations: w.operations(fi.pkg, lit), ResponseKeys: []string{}}
	if patternExpr != nil {
		p.Patterns = w.patterns(fi, patternExpr)
	}
	p.Fields = w.pathFields(fi, lit, owner)
	keys := map[string]bool{}
	for _, handler := range p.Operations {
		for _, t := range fi.pkg.funcs[handler] {
			w.responseKeys(t, keys, map[*ast.FuncDecl]bool{}, 0)
		}
	}
	for k := range keys {
		p.ResponseKeys = append(p.ResponseKeys, k)
	}
	sort.Strings(p.ResponseKeys)
	return p
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: vault_api IMPORT_PATH=DIR [IMPORT_PATH=DIR...]")
		os.Exit(2)
	}
	w := &world{pkgs: map[string]*pkgInfo{}}
	var order []string
	for _, arg := range os.Args[1:] {
		importPath, dir, ok := strings.Cut(arg, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "vault_api: %q is not IMPORT_PATH=DIR\n", arg)
			os.Exit(2)
		}
		pkg, err := loadPackage(importPath, dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "vault_api: %s: %v\n", dir, err)
			os.Exit(1)
		}
		w.pkgs[importPath] = pkg
		order = append(order, importPath)
	}
	result := map[string][]Path{}
	for _, importPath := range order {
		result[importPath] = w.extract(w.pkgs[importPath])
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(result); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
