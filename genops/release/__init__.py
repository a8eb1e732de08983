"""Runs and releases: the pipeline that carries a run from its inputs to a promoted release.

    pipeline.py     regenerate / resume: synthesize -> stage -> gates -> promote
    stages.py       what every run shares: routing, preflight, gate, promote_run
    patch_run.py    `genops patch`; patch_fallback.py, drift_patch.py, repair.py: the other patch runs
    gateset.py      the ordered gates; check_suite.py: `genops check` on the committed tree
    staging.py      a synthesis result -> .genops/runs/<run>/staged/; seal.py: the sealed listing
    publish.py      release id, manifest, diffs -> a journaled promotion plan
    promote.py      the plan carried out atomically; recovery after a crash
    replay.py       rebuild a release from its commit and the archive, compare byte for byte
    history.py      log and rollback

What a release is on disk (its store and tree hashing) lives below, in genops.store.
"""
