// SPDX-License-Identifier: Apache-2.0

// libcni-client drives a CNI network configuration list through libcni, the reference client
// library that container runtimes use, the way a runtime does: ADD, CHECK and DEL with libcni's
// result cache. It also asks VERSION and validates the list (ValidateNetworkList).
//
//	libcni-client -conflist FILE -netns PATH -id CONTAINER [-ifname eth0] [-path DIR]
//	              [-cache DIR] [-args K=V;K=V] add|check|del|validate
//
// add prints the result as JSON on stdout. Errors are printed on stderr and exit 1; a CNI
// error keeps its code in the message ("code N").
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

func main() {
	conflist := flag.String("conflist", "", "network configuration list (.conflist)")
	netns := flag.String("netns", "", "network namespace path of the sandbox")
	id := flag.String("id", "", "container id")
	ifname := flag.String("ifname", "eth0", "interface name in the sandbox")
	path := flag.String("path", "/opt/cni/bin", "plugin directories, colon separated")
	cache := flag.String("cache", "", "libcni result cache directory")
	args := flag.String("args", "", "CNI_ARGS as K=V;K=V")
	flag.Parse()
	if flag.NArg() != 1 || *conflist == "" {
		fmt.Fprintln(os.Stderr, "usage: libcni-client -conflist FILE -netns PATH -id ID add|check|del|validate")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *conflist, *netns, *id, *ifname, *path, *cache, *args); err != nil {
		fmt.Fprintf(os.Stderr, "libcni-client %s: %v\n", flag.Arg(0), err)
		os.Exit(1)
	}
}

func run(op, conflist, netns, id, ifname, path, cache, args string) error {
	list, err := libcni.ConfListFromFile(conflist)
	if err != nil {
		return fmt.Errorf("%s: %w", conflist, err)
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(path), cache, nil)
	rt := &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: ifname, CacheDir: cache}
	for _, kv := range strings.Split(args, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			rt.Args = append(rt.Args, [2]string{k, v})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	switch op {
	case "add":
		result, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			return describe(err)
		}
		return printJSON(result)
	case "check":
		return describe(cni.CheckNetworkList(ctx, list, rt))
	case "del":
		return describe(cni.DelNetworkList(ctx, list, rt))
	case "validate":
		caps, err := cni.ValidateNetworkList(ctx, list)
		if err != nil {
			return describe(err)
		}
		return printJSON(map[string]interface{}{"capabilities": caps})
	}
	return fmt.Errorf("unknown operation %q", op)
}

func printJSON(v interface{}) error {
	out, err := json.Marshal(v)
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

// describe keeps the CNI error code in the message so that scripts can match it.
func describe(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*types.Error); ok {
		return fmt.Errorf("code %d: %s (%s)", e.Code, e.Msg, e.Details)
	}
	return err
}
