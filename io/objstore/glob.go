package objstore

import (
	"context"
	"fmt"
	"iter"
	"net/url"
	"path"
	"strings"
)

// HasMeta reports whether s holds glob metacharacters (* ? [ or \).
func HasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// LiteralPrefix returns the part of pattern before its first metacharacter: the prefix to list to find its
// matches.
func LiteralPrefix(pattern string) string {
	if i := strings.IndexAny(pattern, `*?[\`); i >= 0 {
		return pattern[:i]
	}
	return pattern
}

// Match reports whether key matches pattern. Both are split at "/" and matched segment by segment with
// path.Match rules (so "*" never crosses a "/"); a "**" segment matches any number of segments, including none.
// The error reports a malformed pattern.
func Match(pattern, key string) (bool, error) {
	if _, err := path.Match(strings.ReplaceAll(pattern, "**", "*"), ""); err != nil {
		return false, fmt.Errorf("objstore: bad pattern %q: %w", pattern, err)
	}
	return matchSegs(strings.Split(pattern, "/"), strings.Split(key, "/")), nil
}

func matchSegs(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if matchSegs(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}

// Glob yields the objects of s whose keys match pattern (see Match), listing from the pattern's literal prefix. A
// pattern without metacharacters is a plain prefix: everything under it matches.
func Glob(ctx context.Context, s Store, pattern string, opts ListOptions) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		prefix := LiteralPrefix(pattern)
		glob := prefix != pattern
		if glob {
			if _, err := Match(pattern, ""); err != nil {
				yield(Object{}, err)
				return
			}
		}
		for obj, err := range s.List(ctx, prefix, opts) {
			if err != nil {
				yield(Object{}, err)
				return
			}
			if glob && !matchSegs(strings.Split(pattern, "/"), strings.Split(obj.Key, "/")) {
				continue
			}
			if !yield(obj, nil) {
				return
			}
		}
	}
}

// Partition is one Hive-style "key=value" folder of an object key.
type Partition struct {
	Key, Value string
}

// Partitions returns the Hive-style partitions in the folders of key (not its file name), outermost first:
// "events/dt=2016-09-21/hour=18/part-0.parquet" has dt=2016-09-21 and hour=18. Values are URL-unescaped the way
// Hive escapes them ("%3A" is ":"); folders without "=" are not partitions.
func Partitions(key string) []Partition {
	dirs := strings.Split(key, "/")
	dirs = dirs[:len(dirs)-1]
	var ps []Partition
	for _, d := range dirs {
		k, v, ok := strings.Cut(d, "=")
		if !ok || k == "" {
			continue
		}
		if u, err := url.PathUnescape(v); err == nil {
			v = u
		}
		ps = append(ps, Partition{Key: k, Value: v})
	}
	return ps
}

// PartitionMap is Partitions as a map; for a repeated key the innermost folder wins.
func PartitionMap(key string) map[string]string {
	ps := Partitions(key)
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p.Key] = p.Value
	}
	return m
}
