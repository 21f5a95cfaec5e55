// Command istio_ca is a ground-truth oracle for the istiod plugged-in CA: it loads a `cacerts` directory the way
// istiod does at start-up, signs one workload certificate with Istio's own CA code and verifies the issued leaf as
// a peer would. It prints ONE JSON object on stdout and exits 0 whenever it produced a verdict (2 on usage errors).
//
//	istio_ca DIR
//
// Istio version: the istio.io/istio module pinned in go.mod (release-1.31 branch commit eed52ebb66ad; its
// security/, pilot/pkg/bootstrap/, samples/certs/ and tools/certs/ trees are byte-identical to tag 1.31.0-rc.0 —
// see go.mod). The version string printed under "istio" is read from the binary's build info.
//
// What is CALLED from Istio (exported, not reimplemented):
//   - security/pkg/pki/ca/ca.go: NewPluggedCertIstioCAOptions (which calls
//     security/pkg/pki/util/keycertbundle.go NewVerifiedKeyCertBundleFromFile -> Verify: one x509.Verify of the
//     FIRST PEM block of the signing cert against root-cert.pem as roots and the chain files as an unordered
//     intermediate pool with default VerifyOptions (i.e. ExtKeyUsageServerAuth, time.Now()); key parsed from the
//     first PEM block only; tls.X509KeyPair cert/key match; CRL signature check when a CRL file is given;
//     then the IsCA check on the first block of the signing cert), NewIstioCA (minTTL: the first cert of
//     cert-chain.pem caps the default workload TTL and must not be expired), IstioCA.SignWithCertChain (leaf +
//     cert-chain.pem bytes, exactly what the CA server appends), plus the constants for the file names.
//   - security/pkg/pki/util: GenCSR (the CSR the istio-agent sends: ECDSA P-256, SPIFFE SAN),
//     PemCertBytestoString (how security/pkg/server/ca/server.go CreateCertificate splits the chain it returns).
//   - security/pkg/cmd: DefaultWorkloadCertTTL (24h) and DefaultMaxWorkloadCertTTL (90d), the defaults of
//     DEFAULT_WORKLOAD_CERT_TTL / MAX_WORKLOAD_CERT_TTL registered in pilot/pkg/bootstrap/istio_ca.go lines 89-96;
//     CITADEL_SELF_SIGNED_CA_RSA_KEY_SIZE default 2048 (istio_ca.go line 129) is passed as a literal.
//   - pilot/pkg/features: EnableCACRL (PILOT_ENABLE_CA_CRL, default true) and UseCacertsForSelfSignedCA
//     (USE_CACERTS_FOR_SELF_SIGNED_CA, default false); both honour the same environment variables as istiod.
//
// What is REPLICATED because it is unexported in package bootstrap (minimal decision only: which files are read):
//   - pilot/pkg/bootstrap/istio_ca.go detectSigningCABundleAndCRL (lines 225-267): if DIR/tls.crt exists the
//     kubernetes.io/tls layout wins: signing cert tls.crt, key tls.key, root ca.crt, chain files [tls.crt, ca.crt];
//     otherwise ca-cert.pem, ca-key.pem, root-cert.pem, chain [cert-chain.pem], plus ca-crl.pem when it exists
//     and PILOT_ENABLE_CA_CRL is on. A Stat error other than "not exist" on tls.crt is fatal.
//   - createIstioCA (lines 490-573) with checkCABundleCompleteness / fileExists / hasValidChainFiles
//     (lines 663-730): all four files present -> plugged-in CA; some but not all present -> error
//     "incomplete signing CA bundle detected"; none present -> istiod silently creates a self-signed CA (reported
//     here as load.ok=false, mode "self-signed"). The `istio-generated` marker only matters when
//     USE_CACERTS_FOR_SELF_SIGNED_CA is true. If PILOT_ENABLE_CA_CRL is on and a CRL file was detected, istiod
//     reads it a second time (os.ReadFile) after NewPluggedCertIstioCAOptions; that read is replicated.
//   - security/pkg/server/ca/server.go CreateCertificate: the workload request carries ValidityDuration 0 here,
//     so the CA applies its default TTL (24h capped by the first cert of cert-chain.pem); the response is the leaf
//     plus the cert chain, expanded one certificate per element with util.PemCertBytestoString, each element
//     followed by "\n" (without it a CRLF certificate would end in "\r" and Go's pem.Decode would skip it).
//
// The peer check is plain Go crypto/x509 (what istio-agent / Go peers use): roots = every CERTIFICATE in the root
// file the CA bundle holds (what istiod distributes as istio-ca-root-cert), intermediates = every certificate istiod
// sends after the leaf, verified once with ExtKeyUsageServerAuth and once with ExtKeyUsageClientAuth.
//
// Behaviour that differs by release (read from the istio/istio git tags; this oracle only knows the pinned one):
//   - Missing files: up to 1.26.0 createIstioCA only Stat()s the signing KEY (ca-key.pem, or tls.key in the tls
//     layout): key absent -> silent self-signed CA even if the other files are there; key present but another file
//     absent -> NewPluggedCertIstioCAOptions fails on os.ReadFile. checkCABundleCompleteness ("incomplete signing
//     CA bundle detected") arrived in 1.26.1 and every 1.27+ (istio/istio#55696).
//   - tls.crt/tls.key/ca.crt precedence: 1.14.2+ and 1.15.0+ (istio/istio#39732).
//   - ca-crl.pem: 1.27.0+ (istio/istio#56308); Verify then needs a CRL signed by EVERY certificate in
//     cert-chain.pem, root included.
//   - Leaf NotAfter clamped to the signing cert's NotAfter, and signing refused once it expired: 1.29.3+ and
//     1.30.0+ (istio/istio#59766). Before, only minTTL (first cert of cert-chain.pem, since 1.7) caps the default TTL.
//
// There is no --now flag: Istio's Verify, minTTL and the signer all call time.Now() with no injection point.
package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pkg/log"
	"istio.io/istio/security/pkg/cmd"
	"istio.io/istio/security/pkg/pki/ca"
	"istio.io/istio/security/pkg/pki/util"
)

const (
	workloadSPIFFE = "spiffe://cluster.local/ns/default/sa/default"
	// caRSAKeySize mirrors CITADEL_SELF_SIGNED_CA_RSA_KEY_SIZE's default in pilot/pkg/bootstrap/istio_ca.go.
	caRSAKeySize = 2048
)

type step struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Stage   string `json:"stage,omitempty"`
	Skipped bool   `json:"skipped,omitempty"`
}

type files struct {
	Format      string   `json:"format"`
	SigningCert string   `json:"signing_cert"`
	SigningKey  string   `json:"signing_key"`
	CertChain   []string `json:"cert_chain"`
	RootCert    string   `json:"root_cert"`
	CRL         string   `json:"crl,omitempty"`
}

type issue struct {
	step
	NotBefore  string `json:"not_before,omitempty"`
	NotAfter   string `json:"not_after,omitempty"`
	TTLSeconds int64  `json:"ttl_seconds,omitempty"`
	ChainLen   int    `json:"chain_len,omitempty"`
}

type peer struct {
	step
	Roots         int   `json:"roots"`
	Intermediates int   `json:"intermediates"`
	ServerAuth    *step `json:"server_auth,omitempty"`
	ClientAuth    *step `json:"client_auth,omitempty"`
}

type verdict struct {
	Istio  string `json:"istio"`
	Dir    string `json:"dir"`
	Mode   string `json:"mode"`
	Files  *files `json:"files,omitempty"`
	Load   step   `json:"load"`
	Issue  issue  `json:"issue"`
	Peer   peer   `json:"peer"`
	Config struct {
		DefaultWorkloadTTL string `json:"default_workload_ttl"`
		MaxWorkloadTTL     string `json:"max_workload_ttl"`
		EnableCACRL        bool   `json:"enable_ca_crl"`
	} `json:"config"`
}

func istioVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, m := range info.Deps {
		if m.Path == "istio.io/istio" {
			if m.Replace != nil {
				return m.Replace.Version
			}
			return m.Version
		}
	}
	return "unknown"
}

// detect mirrors detectSigningCABundleAndCRL (pilot/pkg/bootstrap/istio_ca.go lines 225-267).
func detect(dir string) (ca.SigningCAFileBundle, string, error) {
	tlsSigningFile := filepath.Join(dir, ca.TLSSecretCACertFile)
	if _, err := os.Stat(tlsSigningFile); err == nil {
		return ca.SigningCAFileBundle{
			RootCertFile:    filepath.Join(dir, ca.TLSSecretRootCertFile),
			CertChainFiles:  []string{tlsSigningFile, filepath.Join(dir, ca.TLSSecretRootCertFile)},
			SigningCertFile: tlsSigningFile,
			SigningKeyFile:  filepath.Join(dir, ca.TLSSecretCAPrivateKeyFile),
		}, "kubernetes.io/tls", nil
	} else if !os.IsNotExist(err) {
		return ca.SigningCAFileBundle{}, "", fmt.Errorf("unable to determine signing file format %v", err)
	}
	b := ca.SigningCAFileBundle{
		RootCertFile:    filepath.Join(dir, ca.RootCertFile),
		CertChainFiles:  []string{filepath.Join(dir, ca.CertChainFile)},
		SigningCertFile: filepath.Join(dir, ca.CACertFile),
		SigningKeyFile:  filepath.Join(dir, ca.CAPrivateKeyFile),
	}
	if features.EnableCACRL {
		crl := filepath.Join(dir, ca.CACRLFile)
		if _, err := os.Stat(crl); err == nil {
			b.CRLFile = crl
		}
	}
	return b, "istiod", nil
}

// fileExists mirrors fileExists (istio_ca.go lines 699-712).
func fileExists(name string) (bool, error) {
	if name == "" {
		return false, nil
	}
	if _, err := os.Stat(name); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("error checking file %s: %v", name, err)
	}
	return true, nil
}

// completeness mirrors checkCABundleCompleteness + hasValidChainFiles (istio_ca.go lines 663-730).
func completeness(b ca.SigningCAFileBundle) (complete, exists bool, err error) {
	var found [3]bool
	for i, f := range []string{b.SigningKeyFile, b.SigningCertFile, b.RootCertFile} {
		if found[i], err = fileExists(f); err != nil {
			return false, found[0] || found[1] || found[2], err
		}
	}
	chain := false
	for _, f := range b.CertChainFiles {
		ok, ferr := fileExists(f)
		if ferr != nil {
			return false, found[0] || found[1] || found[2], ferr
		}
		if ok {
			chain = true
			break
		}
	}
	exists = found[0] || found[1] || found[2] || chain
	complete = found[0] && found[1] && found[2] && chain
	return complete, exists, nil
}

func skipped(why string) step { return step{OK: false, Skipped: true, Error: why} }

func rel(dir, p string) string {
	if r, err := filepath.Rel(dir, p); err == nil {
		return r
	}
	return p
}

func run(dir string) verdict {
	v := verdict{Istio: istioVersion(), Dir: dir}
	v.Config.DefaultWorkloadTTL = cmd.DefaultWorkloadCertTTL.String()
	v.Config.MaxWorkloadTTL = cmd.DefaultMaxWorkloadCertTTL.String()
	v.Config.EnableCACRL = features.EnableCACRL
	v.Issue.step = skipped("load failed")
	v.Peer.step = skipped("load failed")

	bundle, format, err := detect(dir)
	if err != nil {
		v.Mode = "error"
		v.Load = step{Stage: "detectSigningCABundleAndCRL", Error: err.Error()}
		return v
	}
	f := &files{
		Format: format, SigningCert: rel(dir, bundle.SigningCertFile), SigningKey: rel(dir, bundle.SigningKeyFile),
		RootCert: rel(dir, bundle.RootCertFile),
	}
	for _, c := range bundle.CertChainFiles {
		f.CertChain = append(f.CertChain, rel(dir, c))
	}
	if bundle.CRLFile != "" {
		f.CRL = rel(dir, bundle.CRLFile)
	}
	v.Files = f

	complete, exists, err := completeness(bundle)
	if err != nil {
		v.Mode = "error"
		v.Load = step{Stage: "checkCABundleCompleteness", Error: "failed to create an istiod CA: " + err.Error()}
		return v
	}
	if !complete && exists {
		v.Mode = "incomplete"
		v.Load = step{
			Stage: "checkCABundleCompleteness",
			Error: "failed to create an istiod CA: incomplete signing CA bundle detected",
		}
		return v
	}
	istioGenerated := false
	if complete {
		if _, err := os.Stat(filepath.Join(dir, ca.IstioGenerated)); err == nil {
			istioGenerated = true
		}
	}
	if !complete || (features.UseCacertsForSelfSignedCA && istioGenerated) {
		v.Mode = "self-signed"
		v.Load = step{
			Stage: "createIstioCA",
			Error: "no plugged-in CA bundle: istiod would create its own self-signed root (istio-ca-secret)",
		}
		return v
	}
	v.Mode = "plugged"

	opts, err := ca.NewPluggedCertIstioCAOptions(bundle, cmd.DefaultWorkloadCertTTL, cmd.DefaultMaxWorkloadCertTTL,
		caRSAKeySize)
	if err != nil {
		v.Load = step{Stage: "NewPluggedCertIstioCAOptions", Error: "failed to create an istiod CA: " + err.Error()}
		return v
	}
	if features.EnableCACRL && bundle.CRLFile != "" {
		if _, err := os.ReadFile(bundle.CRLFile); err != nil {
			v.Load = step{Stage: "createIstioCA (read CRL)", Error: err.Error()}
			return v
		}
	}
	istioCA, err := ca.NewIstioCA(opts)
	if err != nil {
		v.Load = step{Stage: "NewIstioCA", Error: "failed to create an istiod CA: " + err.Error()}
		return v
	}
	v.Load = step{OK: true}

	// Issue: the CSR istio-agent sends (ECDSA P-256, SPIFFE SAN), TTL 0 -> the CA's default workload TTL.
	csrPEM, _, err := util.GenCSR(util.CertOptions{
		Host: workloadSPIFFE, ECSigAlg: util.EcdsaSigAlg, ECCCurve: util.P256Curve,
	})
	if err != nil {
		v.Issue.step = step{Stage: "GenCSR", Error: err.Error()}
		return v
	}
	chain, err := istioCA.SignWithCertChain(csrPEM, ca.CertOpts{SubjectIDs: []string{workloadSPIFFE}, TTL: 0})
	if err != nil {
		v.Issue.step = step{Stage: "SignWithCertChain", Error: err.Error()}
		return v
	}
	// security/pkg/server/ca/server.go CreateCertificate: one certificate per element, each + "\n".
	var elems []string
	for _, p := range chain {
		for _, c := range util.PemCertBytestoString([]byte(p)) {
			elems = append(elems, c+"\n")
		}
	}
	var certs []*x509.Certificate
	for i, e := range elems {
		rest := []byte(e)
		for {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				continue // PEM readers used by peers (Go, BoringSSL) skip other block types
			}
			c, perr := x509.ParseCertificate(blk.Bytes)
			if perr != nil {
				v.Issue.step = step{Stage: "parse issued chain", Error: fmt.Sprintf("chain element %d: %v", i, perr)}
				return v
			}
			certs = append(certs, c)
		}
	}
	if len(certs) == 0 {
		v.Issue.step = step{Stage: "parse issued chain", Error: "no certificate in the issued chain"}
		return v
	}
	leaf := certs[0]
	v.Issue = issue{
		step:       step{OK: true},
		NotBefore:  leaf.NotBefore.UTC().Format(time.RFC3339),
		NotAfter:   leaf.NotAfter.UTC().Format(time.RFC3339),
		TTLSeconds: int64(leaf.NotAfter.Sub(leaf.NotBefore.Add(util.ClockSkewGracePeriod)).Seconds()),
		ChainLen:   len(certs),
	}

	// Peer: roots = every certificate in the root file the CA bundle holds; intermediates = the rest of the chain.
	roots := x509.NewCertPool()
	rootPEM := istioCA.GetCAKeyCertBundle().GetRootCertPem()
	nroots := 0
	for rest := rootPEM; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, perr := x509.ParseCertificate(blk.Bytes)
		if perr != nil {
			continue // x509.CertPool.AppendCertsFromPEM skips unparsable certificates too
		}
		roots.AddCert(c)
		nroots++
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	v.Peer = peer{Roots: nroots, Intermediates: len(certs) - 1}
	check := func(u x509.ExtKeyUsage) *step {
		_, verr := leaf.Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{u},
		})
		if verr != nil {
			return &step{Error: verr.Error()}
		}
		return &step{OK: true}
	}
	v.Peer.ServerAuth = check(x509.ExtKeyUsageServerAuth)
	v.Peer.ClientAuth = check(x509.ExtKeyUsageClientAuth)
	v.Peer.OK = v.Peer.ServerAuth.OK && v.Peer.ClientAuth.OK
	var errs []string
	if !v.Peer.ServerAuth.OK {
		errs = append(errs, "serverAuth: "+v.Peer.ServerAuth.Error)
	}
	if !v.Peer.ClientAuth.OK {
		errs = append(errs, "clientAuth: "+v.Peer.ClientAuth.Error)
	}
	v.Peer.Error = strings.Join(errs, "; ")
	return v
}

func main() {
	if len(os.Args) != 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "usage: istio_ca DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		fmt.Fprintf(os.Stderr, "istio_ca: %s is not a directory\n", dir)
		os.Exit(2)
	}
	// Istio's logger writes to stdout by default; keep stdout for the JSON verdict only.
	lo := log.DefaultOptions()
	lo.OutputPaths = []string{"stderr"}
	lo.ErrorOutputPaths = []string{"stderr"}
	if err := log.Configure(lo); err != nil {
		fmt.Fprintf(os.Stderr, "istio_ca: configuring the istio logger: %v\n", err)
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(run(dir)); err != nil {
		os.Exit(2)
	}
}
