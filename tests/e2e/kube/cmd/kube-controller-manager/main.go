// kube-controller-manager built from the k8s.io/kubernetes module pinned in ../../go.mod.
//
// Same body as upstream's k8s.io/kubernetes/cmd/kube-controller-manager/controller-manager.go: run the cobra
// command from app.NewControllerManagerCommand (k8s.io/kubernetes/cmd/kube-controller-manager/app/
// controllermanager.go) through component-base's cli.Run.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream's main registers them
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream's main registers it
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
