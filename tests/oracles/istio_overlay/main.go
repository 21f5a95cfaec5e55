// Command istio_overlay applies the overlays istio-vault-ca renders with Istio's (and Helm's) own code and prints
// what istiod's Deployment ends up with. It prints ONE JSON object on stdout; exit 1 on any error, 2 on usage.
//
//	istio_overlay tsb IOP CONTROLPLANE   # TSB: kubeSpec.overlays patches applied to the IstioOperator TSB renders
//	istio_overlay istioctl FILE...       # `istioctl install -f FILE -f FILE ...`
//	istio_overlay helm FILE...           # `helm upgrade istiod istio/istiod -f FILE -f FILE ...`
//	istio_overlay helm-manifests FILE... # the same, printing every rendered object (`helm template`)
//	istio_overlay istioctl-manifests FILE... # `istioctl manifest generate -f FILE ...`: every rendered object
//
// Istio version: the istio.io/istio module pinned in go.mod (release-1.31 branch commit eed52ebb66ad); Helm: the
// helm.sh/helm/v4 release that module requires.
//
// What is CALLED (exported, not reimplemented):
//   - tsb: operator/pkg/tpath GetPathContext(root, util.PathFromString(path), true) then WritePathContext(ctx, value)
//     on a gopkg.in/yaml.v2 map[any]any tree, once per patch, which is exactly the body of the unexported
//     operator/pkg/render/postprocess.go applyPatches (the overlay library TSB's kubeSpec.overlays reference names).
//     The patched IstioOperator is then rendered like the two-file case below.
//   - istioctl: operator/pkg/render GenerateManifest(files, nil, false, nil, nil): MergeInputs (values.Map
//     MergeFrom per -f file: maps merge key by key, anything else — lists included — is replaced by the later
//     file), the istio-discovery chart through operator/pkg/helm Render, then postProcess (k8s.env and
//     k8s.podAnnotations as strategic merge patches on the Deployment).
//   - helm: helm.sh/helm/v4 pkg/cli/values Options{ValueFiles}.MergeValues (the helm CLI's -f merge), then
//     operator/pkg/helm Render of the same embedded istio-discovery chart (common/util ToRenderValues coalesces
//     the chart's values.yaml under the user's values, as `helm template`/`helm upgrade` do).
//
// Output: {"iop": <patched IstioOperator, tsb only>, "merged": <merged IstioOperator spec.components.pilot and
// spec.values.pilot, istioctl and tsb>, "deployment": {"podAnnotations": {...}, "env": [{"name":..,"value":..}]}}
// where deployment is the rendered istiod Deployment's pod template annotations and discovery container env.
//
// The -manifests modes print YAML instead: every object the same render produced, one document each ("---"
// separated), as `helm template` / `istioctl manifest generate` would hand them to the API server. helm-manifests
// keeps the chart's order (operator/pkg/helm renderChart: templates sorted by file name); istioctl-manifests prints
// the component sets sorted by component name (GenerateManifest returns them in map order), each in its order.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	yaml2 "gopkg.in/yaml.v2"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"
	"sigs.k8s.io/yaml"

	"istio.io/istio/operator/pkg/helm"
	"istio.io/istio/operator/pkg/manifest"
	"istio.io/istio/operator/pkg/render"
	"istio.io/istio/operator/pkg/tpath"
	"istio.io/istio/operator/pkg/util"
	ivalues "istio.io/istio/operator/pkg/values"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: istio_overlay tsb IOP CONTROLPLANE | istioctl FILE... | helm FILE... | helm-manifests FILE... | istioctl-manifests FILE...")
		os.Exit(2)
	}
	var out map[string]any
	var err error
	switch os.Args[1] {
	case "tsb":
		if len(os.Args) != 4 {
			fmt.Fprintln(os.Stderr, "usage: istio_overlay tsb IOP CONTROLPLANE")
			os.Exit(2)
		}
		out, err = tsb(os.Args[2], os.Args[3])
	case "istioctl":
		out, err = istioctl(os.Args[2:])
	case "helm":
		out, err = helmValues(os.Args[2:])
	case "helm-manifests", "istioctl-manifests":
		if err := printManifests(os.Args[1], os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(b))
}

// tsb applies every patch of every kubeSpec.overlays entry of CONTROLPLANE whose kind and name match the
// IstioOperator in IOP, in order, each entry on the result of the previous one (postprocess.go postProcess runs
// applyPatches once per matching overlay entry).
func tsb(iopFile, cpFile string) (map[string]any, error) {
	iopBytes, err := os.ReadFile(iopFile)
	if err != nil {
		return nil, err
	}
	cpBytes, err := os.ReadFile(cpFile)
	if err != nil {
		return nil, err
	}
	base := map[any]any{}
	if err := yaml2.Unmarshal(iopBytes, &base); err != nil {
		return nil, fmt.Errorf("IOP: %v", err)
	}
	var cp struct {
		Spec struct {
			Components struct {
				Istio struct {
					KubeSpec struct {
						Overlays []struct {
							Kind    string `json:"kind"`
							Name    string `json:"name"`
							Patches []struct {
								Path  string `json:"path"`
								Value any    `json:"value"`
							} `json:"patches"`
						} `json:"overlays"`
					} `json:"kubeSpec"`
				} `json:"istio"`
			} `json:"components"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(cpBytes, &cp); err != nil {
		return nil, fmt.Errorf("CONTROLPLANE: %v", err)
	}
	meta, _ := base["metadata"].(map[any]any)
	applied := 0
	for _, o := range cp.Spec.Components.Istio.KubeSpec.Overlays {
		if o.Kind != fmt.Sprint(base["kind"]) || meta == nil || o.Name != fmt.Sprint(meta["name"]) {
			continue
		}
		var errs util.Errors
		for _, p := range o.Patches {
			ctx, _, err := tpath.GetPathContext(base, util.PathFromString(p.Path), true)
			if err != nil {
				errs = util.AppendErr(errs, err)
				continue
			}
			if err := tpath.WritePathContext(ctx, p.Value); err != nil {
				errs = util.AppendErr(errs, err)
			}
		}
		if err := errs.ToError(); err != nil {
			return nil, fmt.Errorf("patch: %v", err)
		}
		applied++
	}
	if applied == 0 {
		return nil, fmt.Errorf("no overlay entry matches %v %v", base["kind"], meta)
	}
	patched, err := yaml2.Marshal(base)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "istio-overlay-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "patched.yaml")
	if err := os.WriteFile(file, patched, 0o600); err != nil {
		return nil, err
	}
	out, err := istioctl([]string{file})
	if err != nil {
		return nil, err
	}
	iop, err := ivalues.MapFromYaml(patched)
	if err != nil {
		return nil, err
	}
	out["iop"] = iop
	return out, nil
}

func istioctl(files []string) (map[string]any, error) {
	sets, merged, err := render.GenerateManifest(files, nil, false, nil, nil)
	if err != nil {
		return nil, err
	}
	var all []manifest.Manifest
	for _, s := range sets {
		all = append(all, s.Manifests...)
	}
	dep, err := istiod(all)
	if err != nil {
		return nil, err
	}
	pilot, _ := merged.GetPath("spec.components.pilot")
	valuesPilot, _ := merged.GetPath("spec.values.pilot")
	return map[string]any{"merged": map[string]any{"components.pilot": pilot, "values.pilot": valuesPilot}, "deployment": dep}, nil
}

func helmValues(files []string) (map[string]any, error) {
	opts := values.Options{ValueFiles: files}
	vals, err := opts.MergeValues(getter.Providers{})
	if err != nil {
		return nil, err
	}
	iop := ivalues.Map{"spec": map[string]any{"values": vals}}
	mfs, _, err := helm.Render("istiod", "istio-system", "istio-control/istio-discovery", iop, nil)
	if err != nil {
		return nil, err
	}
	dep, err := istiod(mfs)
	if err != nil {
		return nil, err
	}
	return map[string]any{"merged": vals, "deployment": dep}, nil
}

// istiod picks the istiod Deployment and returns its pod annotations and discovery container env.
func istiod(mfs []manifest.Manifest) (map[string]any, error) {
	for _, m := range mfs {
		if m.GetKind() != "Deployment" || m.GetName() != "istiod" {
			continue
		}
		obj := ivalues.Map(m.Object)
		ann, _ := obj.GetPath("spec.template.metadata.annotations")
		containers, _ := obj.GetPath("spec.template.spec.containers")
		list, _ := containers.([]any)
		for _, c := range list {
			cm, _ := c.(map[string]any)
			if cm["name"] == "discovery" {
				return map[string]any{"podAnnotations": ann, "env": cm["env"]}, nil
			}
		}
		return nil, fmt.Errorf("istiod Deployment has no discovery container")
	}
	return nil, fmt.Errorf("no istiod Deployment rendered")
}

// printManifests renders like helmValues (helm-manifests) or istioctl (istioctl-manifests) and prints every object.
func printManifests(mode string, files []string) error {
	var all []manifest.Manifest
	if mode == "helm-manifests" {
		vals, err := (&values.Options{ValueFiles: files}).MergeValues(getter.Providers{})
		if err != nil {
			return err
		}
		iop := ivalues.Map{"spec": map[string]any{"values": vals}}
		mfs, _, err := helm.Render("istiod", "istio-system", "istio-control/istio-discovery", iop, nil)
		if err != nil {
			return err
		}
		all = mfs
	} else {
		sets, _, err := render.GenerateManifest(files, nil, false, nil, nil)
		if err != nil {
			return err
		}
		sort.Slice(sets, func(i, j int) bool { return sets[i].Component < sets[j].Component })
		for _, s := range sets {
			all = append(all, s.Manifests...)
		}
	}
	if len(all) == 0 {
		return fmt.Errorf("%s: nothing rendered", mode)
	}
	for _, m := range all {
		b, err := yaml.Marshal(m.Object)
		if err != nil {
			return err
		}
		fmt.Printf("---\n%s", b)
	}
	return nil
}
