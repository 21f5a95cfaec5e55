// Command vault-k8s-webhook runs the admission handler of the real Vault agent injector,
// github.com/hashicorp/vault-k8s (MPL-2.0, the version go.mod pins), outside a cluster.
//
// `vault-k8s agent-inject` (subcommand/injector/command.go, Command.Run) needs an in-cluster client
// (rest.InClusterConfig) only for its certificate watcher and leader election; its webhook is
// agent_inject.Handler (agent-inject/handler.go) served at /mutate. This program builds that Handler with
// the command's own defaults (the agent.Default* values its flags use) and either
//
//   - serves Handler.Handle at /mutate over HTTPS on a local address with the given certificate, for a
//     MutatingWebhookConfiguration whose clientConfig.url points at it (-listen, -tls-cert-file, -tls-key-file), or
//   - with -mutate, reads one Pod (JSON) on stdin, calls Handler.Mutate with a CREATE AdmissionRequest for it
//     and prints the patched Pod (JSON) on stdout; a denied Pod prints the injector's message on stderr, exit 3.
//
// Nothing of vault-k8s is copied here: every decision about the Pod is the module's.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	jsonpatch "github.com/evanphx/json-patch"
	"github.com/hashicorp/go-hclog"
	agentinject "github.com/hashicorp/vault-k8s/agent-inject"
	"github.com/hashicorp/vault-k8s/agent-inject/agent"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

func main() {
	os.Exit(run())
}

func run() int {
	flags := flag.NewFlagSet("vault-k8s-webhook", flag.ContinueOnError)
	listen := flags.String("listen", "127.0.0.1:8080", "address to serve HTTPS on")
	certFile := flags.String("tls-cert-file", "", "PEM certificate to serve")
	keyFile := flags.String("tls-key-file", "", "PEM key of that certificate")
	mutate := flags.Bool("mutate", false, "read a Pod on stdin, print the mutated Pod")
	namespace := flags.String("namespace", "default", "-mutate: the namespace of the admission request")
	logLevel := flags.String("log-level", "info", "trace, debug, info, warn or error")
	// The injector command's flags that shape the injected containers, with its defaults.
	vaultAddress := flags.String("vault-address", "", "Address of the Vault server (AGENT_INJECT_VAULT_ADDR).")
	vaultImage := flags.String("vault-image", agent.DefaultVaultImage, "Image for the agent containers.")
	authType := flags.String("vault-auth-type", agent.DefaultVaultAuthType, "Auth method type.")
	authPath := flags.String("vault-auth-path", agent.DefaultVaultAuthPath, "Auth method mount path.")
	runAsUser := flags.String("run-as-user", strconv.Itoa(agent.DefaultAgentRunAsUser), "uid of the agent")
	runAsGroup := flags.String("run-as-group", strconv.Itoa(agent.DefaultAgentRunAsGroup), "gid of the agent")
	defaultTemplate := flags.String("default-template", agent.DefaultTemplateType, "map or json")
	exitOnRetryFailure := flags.Bool("template-config-exit-on-retry-failure",
		agent.DefaultTemplateConfigExitOnRetryFailure, "template_config.exit_on_retry_failure")
	if err := flags.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if *vaultAddress == "" {
		fmt.Fprintln(os.Stderr, "No Vault service configured (-vault-address)")
		return 2
	}
	handler := &agentinject.Handler{
		VaultAddress:       *vaultAddress,
		VaultAuthType:      *authType,
		VaultAuthPath:      *authPath,
		ImageVault:         *vaultImage,
		RequireAnnotation:  true,
		Log:                hclog.New(&hclog.LoggerOptions{Name: "handler", Level: hclog.LevelFromString(*logLevel), Output: os.Stderr}),
		UserID:             *runAsUser,
		GroupID:            *runAsGroup,
		SameID:             agent.DefaultAgentRunAsSameUser,
		SetSecurityContext: agent.DefaultAgentSetSecurityContext,
		DefaultTemplate:    *defaultTemplate,
		ResourceRequestCPU: agent.DefaultResourceRequestCPU,
		ResourceRequestMem: agent.DefaultResourceRequestMem,
		ResourceLimitCPU:   agent.DefaultResourceLimitCPU,
		ResourceLimitMem:   agent.DefaultResourceLimitMem,
		ExitOnRetryFailure: *exitOnRetryFailure,
	}
	if *mutate {
		return mutateStdin(handler, *namespace)
	}
	return serve(handler, *listen, *certFile, *keyFile)
}

func serve(handler *agentinject.Handler, listen, certFile, keyFile string) int {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loading the serving certificate: %s\n", err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/mutate", handler.Handle)
	mux.HandleFunc("/health/ready", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	server := &http.Server{
		Addr:              listen,
		Handler:           mux,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Fprintf(os.Stderr, "serving the vault-k8s admission handler at https://%s/mutate\n", listen)
	if err := server.ListenAndServeTLS("", ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func mutateStdin(handler *agentinject.Handler, namespace string) int {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	request := &admissionv1.AdmissionRequest{
		UID:       types.UID("00000000-0000-0000-0000-000000000000"),
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: namespace,
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: raw},
	}
	response := handler.Mutate(request).Resp
	if !response.Allowed {
		message := "denied"
		if response.Result != nil {
			message = response.Result.Message
		}
		fmt.Fprintln(os.Stderr, message)
		return 3
	}
	mutated := raw
	if len(response.Patch) > 0 {
		patch, err := jsonpatch.DecodePatch(response.Patch)
		if err != nil {
			fmt.Fprintf(os.Stderr, "decoding the injector's patch: %s\n", err)
			return 1
		}
		if mutated, err = patch.Apply(raw); err != nil {
			fmt.Fprintf(os.Stderr, "applying the injector's patch: %s\n", err)
			return 1
		}
	}
	var pod map[string]any
	if err := json.Unmarshal(mutated, &pod); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out, _ := json.MarshalIndent(pod, "", "  ")
	fmt.Println(string(out))
	return 0
}
