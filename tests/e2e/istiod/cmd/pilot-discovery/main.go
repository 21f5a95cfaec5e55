// istiod as upstream builds it: istio.io/istio/pilot/cmd/pilot-discovery/main.go runs app.NewRootCommand with klog
// routed through Istio's logger; this main does the same at the pinned revision (see ../../go.mod).
package main

import (
	"os"

	"istio.io/istio/pilot/cmd/pilot-discovery/app"
	"istio.io/istio/pkg/log"
)

func main() {
	log.EnableKlogWithCobra()
	if err := app.NewRootCommand().Execute(); err != nil {
		log.Error(err)
		os.Exit(-1)
	}
}
