package local

import (
	"fmt"
	"io"

	"github.com/kappaflow/kappa/internal/engine"
)

// Migration converts the checkpointed state of one keyed transform to the types of a new version of the job, as
// Flink's state schema evolution does: without one, a restore refuses state whose types changed. Build it with
// MigrateAccumulator and list it in Config.Migrations.
type Migration struct {
	transform string
	key       string
	from, to  string
	conv      any
}

// MigrateAccumulator converts the accumulators of the grouping named transform (CombinePerKey, GroupByKey —
// whose accumulator is the slice of values — and the transforms built on them) from Old to New with fn, for keys
// of type K. The restore checks that the checkpoint holds Old accumulators and the pipeline wants New ones.
func MigrateAccumulator[K comparable, Old, New any](transform string, fn func(Old) New) Migration {
	m := engine.AccMigration[K, Old, New]{Fn: fn}
	key, from, to := m.Types()
	return Migration{transform: transform, key: key, from: from, to: to, conv: m}
}

// String describes the migration.
func (m Migration) String() string {
	return fmt.Sprintf("%s: %s → %s (keys %s)", m.transform, m.from, m.to, m.key)
}

type migratingRestorer interface {
	RestoreMigrated(chains [][]io.Reader, m any) error
}

func (m *Migration) restore(ex any, chains [][]io.Reader) error {
	r, ok := ex.(migratingRestorer)
	if !ok {
		return fmt.Errorf("%s: its state cannot be migrated (%T)", m.transform, ex)
	}
	return r.RestoreMigrated(chains, m.conv)
}

func (ru *run) migrationFor(transform string) *Migration {
	for i := range ru.cfg.Migrations {
		if ru.cfg.Migrations[i].transform == transform {
			return &ru.cfg.Migrations[i]
		}
	}
	return nil
}
