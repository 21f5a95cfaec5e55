// The Istio sidecar agent as upstream builds it: istio.io/istio/pilot/cmd/pilot-agent/main.go runs
// app.NewRootCommand with the SDS server of security/pkg/nodeagent/sds; this main does the same at the pinned
// revision (see ../../go.mod). The e2e tier runs it as a workload's sidecar agent against the real istiod.
package main

import (
	"os"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pilot/cmd/pilot-agent/app"
	istioagent "istio.io/istio/pkg/istio-agent"
	"istio.io/istio/pkg/log"
	"istio.io/istio/pkg/security"
	"istio.io/istio/security/pkg/nodeagent/sds"
)

func main() {
	log.EnableKlogWithCobra()
	rootCmd := app.NewRootCommand(
		func(options *security.Options, cache security.SecretManager, pkp *meshconfig.PrivateKeyProvider) istioagent.SDSService {
			return sds.NewServer(options, cache, pkp)
		})
	if err := rootCmd.Execute(); err != nil {
		log.Error(err)
		os.Exit(-1)
	}
}
