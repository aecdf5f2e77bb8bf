// Command kappa lists and inspects the checkpoints and savepoints of kappa jobs, in a folder or an S3 bucket.
//
//	kappa checkpoints /var/lib/kappa/views          # or s3://bucket/jobs/views/
//	kappa inspect /var/lib/kappa/views/chk-42       # a checkpoint: epochs, transforms, state, positions, sinks
//	kappa inspect s3://bucket/jobs/views/savepoint-20260102T150405Z
//	kappa inspect /var/lib/kappa/views              # the checkpoint a run would restore (the newest complete one)
//	kappa inspect -verify /var/lib/kappa/views/chk-42   # also read every state object and check its size
//	kappa inspect -json …                           # the manifest as JSON, with decoded positions
//
// It reads the manifest format of runners/local (local.ReadManifest, local.ListCheckpoints). An unreadable,
// corrupt or unknown manifest is an error naming the file (exit status 1); a bad command line exits with 2.
// s3:// locations use -s3-endpoint (or $KAPPA_S3_ENDPOINT) for S3-compatible servers, else AWS's chain.
// docs/operations.md ("The job command line") shows the output.
package main
