// etcd built from go.etcd.io/etcd/server/v3 at the version k8s.io/kubernetes itself requires (see ../../go.mod):
// upstream's etcd binary is etcdmain.Main (go.etcd.io/etcd/server/v3/etcdmain/main.go) called from etcd's main.go.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
