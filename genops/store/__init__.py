"""What a release is on disk: the release store, tree hashing and copying, and git.

    releases.py   ids, directories and manifests under .genops/releases/; which one is current
    tree.py       the sha256 of every file of an output tree, the tree hash, safe copies
    gitops.py     the workspace's git repository with hooks off: commit, tag, trailers, export

Gates, the semantic diff, review and the pipeline all read releases through here, so none of them
depends on the orchestration that makes releases (genops.release).
"""
