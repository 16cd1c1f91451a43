// The etcd server: etcd's own entry point, which lives in a module that cannot be built from
// the module proxy alone.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
