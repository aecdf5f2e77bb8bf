package jobcli

import "github.com/kappaflow/kappa/runners/local"

// setStatus puts the -status address in the runner's configuration: the job's status page (local.Config.StatusAddr,
// docs/operations.md "Status page").
func setStatus(cfg *local.Config, addr string) {
	cfg.StatusAddr = addr
}
